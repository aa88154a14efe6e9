"""How spatialfoa compiles and enters its numba kernels (private).

* :func:`kernel` is ``numba.njit(cache=True, nogil=True, ...)``: the GIL is released, so
  kernels run concurrently from several Python threads.
* Parallel (``prange``) kernels are entered through :func:`run`: one thread at a time holds
  :data:`PARALLEL_LOCK` and runs the parallel kernel; a thread that finds it taken runs the
  serial twin instead (same arithmetic, on its own core). numba's workqueue layer aborts the
  process on concurrent entry and OpenMP would oversubscribe the cores, so this is both safe and
  fast. numba's global configuration (threading layer, thread count) is never changed: the
  user's ``NUMBA_THREADING_LAYER`` / ``numba.config`` decides the layer, and
  ``numba.set_num_threads`` the width.
* In a process fork()ed from one whose numba thread pool is GNU OpenMP (``omp``), parallel
  regions abort the child, so after such a fork every kernel runs serially (data-loader workers
  are one process per core anyway). workqueue and tbb children keep running in parallel.
"""
import os
import threading

import numba
from numba import njit

#: Held by the thread inside a parallel kernel; others take the serial kernel.
PARALLEL_LOCK = threading.Lock()
_state = {"fork_serial": False, "parallel_calls": 0, "serial_calls": 0}


def kernel(**options):
    """``numba.njit(cache=True, nogil=True, **options)``."""
    return njit(cache=True, nogil=True, **options)


def _threading_layer():
    """The layer numba's thread pool was started with in this process, or None if not yet."""
    try:
        return numba.threading_layer()
    except ValueError:                   # "Threading layer is not initialized."
        return None


def _after_fork_in_child():
    global PARALLEL_LOCK
    PARALLEL_LOCK = threading.Lock()      # a lock held by a parent thread would stay held
    if _threading_layer() == "omp":
        _state["fork_serial"] = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def run(parallel_kernel, serial_kernel, parallel, *args):
    """Call ``parallel_kernel(*args)`` if ``parallel`` and no other thread is inside a parallel
    kernel (and this is not an OpenMP-forked child), else ``serial_kernel(*args)``. Returns the
    kernel's result."""
    if parallel and not _state["fork_serial"] and PARALLEL_LOCK.acquire(blocking=False):
        try:
            _state["parallel_calls"] += 1
            return parallel_kernel(*args)
        finally:
            PARALLEL_LOCK.release()
    _state["serial_calls"] += 1
    return serial_kernel(*args)


def stats():
    """{"threading_layer": numba's layer or None if no parallel region ran, "parallel_calls",
    "serial_calls": how often :func:`run` took each kernel (serial counts are approximate under
    threads), "fork_serial": whether this forked child is limited to serial kernels}."""
    return {"threading_layer": _threading_layer(), **_state}
