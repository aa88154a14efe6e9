"""Where preprocessing runs: local worker processes (default) or a Ray cluster.

An :class:`Engine` maps a function over items and yields ``(item, outcome)`` as each finishes,
with a progress bar; ``outcome`` is the function's return value, or an :class:`EngineError`
when it raised or its worker died (errors are collected, never stop the run). Scheduling is the
backend's: :class:`concurrent.futures.ProcessPoolExecutor` ("spawn", one numba thread per
worker) locally, Ray tasks (``ray.wait``) and :class:`ray.util.ActorPool` on Ray.

- ``Engine("local", jobs=1)``: in this process, in order (no worker start-up);
- ``Engine("local", jobs=4)``: 4 worker processes;
- ``Engine("ray")``: a local Ray instance (``jobs`` CPUs, all when ``jobs`` <= 1), or the one
  already started in this process (``ray.init(...)`` before);
- ``Engine("ray", address="auto" | "ray://head:10001" | "head:6379")``: an existing cluster.
  Its nodes need this package installed (``pip install -e .[learn]``) and, for files, a
  shared filesystem: workers read and write the paths they are given.

:meth:`Engine.map_stateful` gives each worker a long-lived state built once (a detector loaded
on a GPU, say): Ray actors with ``gpus_per_worker`` GPUs each, or one state per local process.

>>> with Engine("local", jobs=2) as engine:                                    # doctest: +SKIP
...     for item, outcome in engine.map(math.sqrt, [1, 4, 9], desc="sqrt"):
...         print(item, outcome)
"""
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed

from spatialfoa.validation import FOAError

ENGINES = ("local", "ray")


class EngineError(FOAError):
    """A task that raised or whose worker died; the message names the item and the error,
    ``reason`` is the error's own message (``str(err)``)."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = message if reason is None else reason

    def __reduce__(self):                  # keep ``reason`` through pickling (processes, Ray)
        return (type(self), (str(self), self.reason))


class Engine:
    """Runs tasks locally or on Ray (see the module doc). Use as a context manager: a Ray
    instance started by the engine is shut down on exit (one it found running is kept)."""

    def __init__(self, kind="local", jobs=1, address=None, progress=True):
        if kind not in ENGINES:
            raise FOAError(f"engine must be one of {ENGINES}, got {kind!r}")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise FOAError(f"jobs must be a positive integer, got {jobs!r}")
        if address is not None and kind != "ray":
            raise FOAError("an address is only used with engine 'ray' (--engine ray)")
        if kind == "ray":
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise FOAError("engine 'ray' needs Ray: pip install 'ray>=2.9' (or the "
                               "package's [ray] extra)")
        self.kind, self.jobs, self.address, self.progress = kind, jobs, address, progress
        self._started_ray = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Shut down the Ray instance this engine started (if any)."""
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def __repr__(self):
        where = f", address={self.address!r}" if self.address else ""
        return f"Engine({self.kind!r}, jobs={self.jobs}{where})"

    # -- running -------------------------------------------------------------------------------
    def map(self, fn, items, desc="tasks", unit="task", cpus_per_task=1):
        """Yield ``(item, fn(item) or EngineError)`` for every item, in completion order.

        ``fn`` must be picklable (a module-level function or a :func:`functools.partial` of
        one) for worker processes and Ray. ``cpus_per_task``: CPUs Ray reserves per task.
        """
        items = list(items)
        bar = self._bar(len(items), desc, unit)
        try:
            if self.kind == "ray":
                results = self._ray_map(fn, items, cpus_per_task)
            elif self.jobs <= 1 or len(items) <= 1:
                results = ((item, _call(fn, item)) for item in items)
            else:
                results = self._pool_map(fn, items)
            for item, outcome in results:
                bar.update()
                yield item, outcome
        finally:
            bar.close()

    def map_stateful(self, setup, fn, items, desc="tasks", unit="task", workers=None,
                     gpus_per_worker=0.0, cpus_per_worker=1):
        """Yield ``(item, fn(state, item) or EngineError)``, ``state = setup()`` built once per
        worker, in completion order.

        Ray: ``workers`` actors (default ``jobs``), each reserving ``gpus_per_worker`` GPUs
        (fractions share a GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` in the actor, so the state
        sees its GPUs as cuda:0, ...) and ``cpus_per_worker`` CPUs. Locally: one state in this
        process when ``jobs`` is 1, else one per worker process (GPUs are not reserved).
        """
        items = list(items)
        workers = self.jobs if workers is None else int(workers)
        if workers < 1:
            raise FOAError(f"workers must be >= 1, got {workers}")
        if gpus_per_worker < 0 or cpus_per_worker < 0:
            raise FOAError("gpus_per_worker and cpus_per_worker must be >= 0")
        bar = self._bar(len(items), desc, unit)
        try:
            if not items:
                return
            if self.kind == "ray":
                results = self._ray_actor_map(setup, fn, items, workers, gpus_per_worker,
                                              cpus_per_worker)
            elif workers <= 1 or len(items) <= 1:
                try:
                    state = setup()
                except Exception as err:
                    raise EngineError(f"worker setup failed: {type(err).__name__}: {err}") \
                        from err
                results = ((item, _call_stateful(fn, state, item)) for item in items)
            else:
                results = self._pool_map(fn, items, setup=setup, workers=workers)
            for item, outcome in results:
                bar.update()
                yield item, outcome
        finally:
            bar.close()

    # -- backends ------------------------------------------------------------------------------
    def _bar(self, total, desc, unit):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                    disable=not self.progress)

    def _pool_map(self, fn, items, setup=None, workers=None):
        import multiprocessing

        workers = min(workers or self.jobs, len(items))
        call = _call if setup is None else _call_pool_state
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(setup,)) as pool:
            futures = {pool.submit(call, fn, item): item for item in items}
            for fut in as_completed(futures):
                item = futures[fut]
                try:
                    yield item, fut.result()
                except Exception as err:          # the worker process died (BrokenProcessPool)
                    yield item, EngineError(f"{_label(item)}: worker failed: "
                                            f"{type(err).__name__}: {err}")

    def _ray(self):
        import ray

        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": True}
            if self.address is not None:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.jobs if self.jobs > 1 else None, **kwargs)
            self._started_ray = True
        return ray

    def _ray_map(self, fn, items, cpus_per_task):
        ray = self._ray()
        remote = ray.remote(_ray_task).options(num_cpus=cpus_per_task, max_retries=0)
        pending = {remote.remote(fn, item): item for item in items}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item = pending.pop(ref)
                try:
                    yield item, ray.get(ref)
                except Exception as err:          # worker crash, out of memory, ...
                    yield item, EngineError(f"{_label(item)}: Ray task failed: "
                                            f"{type(err).__name__}: {err}")

    def _ray_actor_map(self, setup, fn, items, workers, gpus, cpus):
        ray = self._ray()
        from ray.util import ActorPool

        actor_cls = ray.remote(_StatefulWorker).options(num_gpus=gpus, num_cpus=cpus)
        actors = [actor_cls.remote(setup) for _ in range(min(workers, len(items)))]
        pool = ActorPool(actors)
        indexed = list(enumerate(items))
        try:
            for k, outcome in pool.map_unordered(lambda a, kv: a.run.remote(fn, kv), indexed):
                yield items[k], outcome
        except Exception as err:      # an actor died (setup failed, GPU out of memory, ...)
            raise EngineError(f"Ray worker failed: {type(err).__name__}: {err}") from None
        finally:
            for a in actors:
                ray.kill(a)


# -- worker side (module level, so that processes and Ray can import them) ---------------------
_STATE = None


def _init_worker(setup=None):
    """Worker process start: one numba thread (workers already share the cores), then the
    worker's state."""
    global _STATE
    _one_numba_thread()
    if setup is not None:
        _STATE = setup()


def _one_numba_thread():
    import numba

    numba.set_num_threads(1)


def _label(item):
    """A short name of an item for messages."""
    text = str(item)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(item, err):
    tb = traceback.extract_tb(err.__traceback__)
    where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return EngineError(f"{_label(item)}: {type(err).__name__}: {err}{where}", reason=str(err))


def _call(fn, item):
    try:
        return fn(item)
    except Exception as err:
        return _describe(item, err)


def _call_stateful(fn, state, item):
    try:
        return fn(state, item)
    except Exception as err:
        return _describe(item, err)


def _call_pool_state(fn, item):
    return _call_stateful(fn, _STATE, item)


def _ray_task(fn, item):
    _one_numba_thread()
    return _call(fn, item)


class _StatefulWorker:
    """A Ray actor holding ``setup()``'s result."""

    def __init__(self, setup):
        _one_numba_thread()
        self.state = setup()

    def run(self, fn, kv):
        k, item = kv
        return k, _call_stateful(fn, self.state, item)


def add_engine_arguments(parser):
    """Add ``--jobs``, ``--engine`` and ``--address`` to an argparse parser."""
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes (local), or CPUs of a local Ray instance")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local processes (default) or Ray")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (auto, HOST:6379 or ray://HOST:10001); "
                             "without it --engine ray starts a local instance")
    return parser


def engine_from_args(args, progress=True):
    """The :class:`Engine` of parsed ``--engine/--jobs/--address`` arguments."""
    return Engine(args.engine, jobs=args.jobs, address=args.address, progress=progress)
