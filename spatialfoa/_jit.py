"""How spatialfoa compiles and enters its numba kernels (private).

* :func:`kernel` is ``numba.njit(cache=True, nogil=True, ...)``: the GIL is released, so
  kernels run concurrently from several Python threads. Where numba finds no writable cache
  folder (a read-only install, no writable home: "cannot cache function ...: no locator
  available"), the kernels are cached in a private per-user folder under the temporary
  directory instead, or compiled without a cache if that fails too, with one warning.
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
import tempfile
import threading
import warnings

import numba
from numba import njit

#: Held by the thread inside a parallel kernel; others take the serial kernel.
PARALLEL_LOCK = threading.Lock()
_state = {"fork_serial": False, "parallel_calls": 0, "serial_calls": 0}


def kernel(**options):
    """``numba.njit(cache=True, nogil=True, **options)``, with the cache fallback above."""
    def decorate(func):
        try:
            return njit(cache=True, nogil=True, **options)(func)
        except RuntimeError as err:
            if "no locator available" not in str(err):
                raise
            reason = str(err)
        dispatcher = njit(nogil=True, **options)(func)
        _fallback_cache(dispatcher, reason)
        return dispatcher
    return decorate


_warned = []


def _fallback_dir():
    """A cache folder only this user can write (created 0700), or None."""
    path = os.path.join(tempfile.gettempdir(), f"spatialfoa-numba-cache-{os.getuid()}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    # refuse a folder someone else could have planted (pickled code is loaded from it)
    if st.st_uid != os.getuid() or st.st_mode & 0o022 or not os.access(path, os.W_OK):
        return None
    return path


def _fallback_cache(dispatcher, reason):
    """Give ``dispatcher`` an on-disk cache in :func:`_fallback_dir`, else none; warn once."""
    where = _fallback_dir()
    if where is not None:
        try:
            from numba.core import caching

            class Locator(caching.UserProvidedCacheLocator):
                def __init__(self, py_func, py_file):
                    self._py_file = py_file
                    self._lineno = py_func.__code__.co_firstlineno
                    self._cache_path = os.path.join(where,
                                                    self.get_suitable_cache_subpath(py_file))

                @classmethod
                def from_function(cls, py_func, py_file):
                    # skip UserProvidedCacheLocator's test of numba.config.CACHE_DIR
                    return super(caching.UserProvidedCacheLocator, cls).from_function(
                        py_func, py_file)

            class Impl(caching.CompileResultCacheImpl):
                _locator_classes = [Locator]

            class Cache(caching.FunctionCache):
                _impl_class = Impl

            dispatcher._cache = Cache(dispatcher.py_func)
        except Exception:                   # numba internals changed, or still no locator
            where = None
    if not _warned:
        _warned.append(True)
        then = (f"caching the compiled kernels in {where}" if where else
                "compiling the kernels without a cache (again in every process)")
        warnings.warn(f"spatialfoa: numba cannot cache next to the package or in the user "
                      f"cache folder ({reason}); {then}. Set NUMBA_CACHE_DIR to a writable "
                      f"folder to choose one.", RuntimeWarning, stacklevel=3)


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
