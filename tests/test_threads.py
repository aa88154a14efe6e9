"""Concurrency: every kernel-backed function from 8 threads gives the single-thread results,
under the default threading layer and under workqueue (which aborts the process on concurrent
entry to a parallel region); fork()ed workers after a parallel call; numba's global
configuration left alone; and the on-disk cache never serving the serial kernel for the
parallel one (a fresh cache with the short call first)."""
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import spatialfoa
from spatialfoa import _feature_kernels, _mixing

SR = 24000
LONG = _feature_kernels.PARALLEL_MIN_SAMPLES + 1234     # parallel paths of mix and features
SHORT = SR                                              # a 1 s training clip: serial paths
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _calls(n):
    """(name, function of a (4, n) float32 signal) for the kernel-backed public functions."""
    nb = -(-n // 2400)
    yaw = np.linspace(0, np.pi, nb)
    return [
        ("rotate", lambda x: spatialfoa.rotate(x, 0.3, 0.2, -0.1)),
        ("align", lambda x: spatialfoa.align(x, 1.0, 0.4)),
        ("beamform", lambda x: spatialfoa.beamform(x, np.array([0.0, 1.5]), np.zeros(2))),
        ("rotate_blocks", lambda x: spatialfoa.rotate_blocks(x, yaw, 0.1 * yaw, 0.0, 2400)),
        ("foa_iv", lambda x: spatialfoa.foa_iv(x, SR)),
        ("energy_ratio", lambda x: np.float64(spatialfoa.energy_ratio(x, SR))),
    ]


def _signal(n, seed):
    return np.random.default_rng(seed).standard_normal((4, n)).astype(np.float32)


def _hammer(n_threads=8, lengths=(LONG, SHORT)):
    """Run every call on every length from ``n_threads`` threads at once (each thread its own
    signal); return the number of mismatches against the single-thread results."""
    jobs = [(name, f, n, seed) for n in lengths for seed in range(2)
            for name, f in _calls(n)]
    ref = {(name, n, seed): f(_signal(n, seed)) for name, f, n, seed in jobs}
    with ThreadPoolExecutor(n_threads) as pool:
        got = list(pool.map(lambda j: j[1](_signal(j[2], j[3])), jobs * 2))
    bad = [j[0] for j, y in zip(jobs * 2, got)
           if not np.array_equal(y, ref[(j[0], j[2], j[3])])]
    return bad


def test_eight_threads_give_the_single_thread_results():
    assert _hammer() == []


def _run_python(code, env=None, timeout=240, args=()):
    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)


def test_workqueue_layer_survives_threads_and_is_not_changed():
    # workqueue aborts with "Concurrent access has been detected" when two threads enter a
    # parallel region: spatialfoa must keep to one thread per parallel kernel. It must also
    # leave the user's layer setting as it was.
    code = """
        import json, numba, sys
        sys.path.insert(0, "tests")
        before = numba.config.THREADING_LAYER
        import test_threads
        bad = test_threads._hammer() if sys.argv[1:] == ["hammer"] else []
        if not bad:
            test_threads.spatialfoa.rotate(test_threads._signal(test_threads.LONG, 0), 0.1)
        from spatialfoa import _jit
        print(json.dumps({"bad": bad, "before": before, "after": numba.config.THREADING_LAYER,
                          "stats": _jit.stats()}))
    """
    # the threads under workqueue; the default layer only for "configuration untouched"
    # (test_eight_threads_give_the_single_thread_results hammers it in this process)
    for layer, args in (("workqueue", ["hammer"]), (None, [])):
        env = {"NUMBA_THREADING_LAYER": layer} if layer else {}
        proc = _run_python(code, env, args=args)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["bad"] == []
        assert out["after"] == out["before"]
        assert out["stats"]["parallel_calls"] > 0
        if layer:
            assert out["stats"]["threading_layer"] == layer


def _all_in_child(n):
    return [float(np.sum(f(_signal(n, 7)), dtype=np.float64)) for _, f in _calls(n)]


def test_forked_pool_after_a_parallel_call():
    ref = _all_in_child(LONG)                       # the parent runs the parallel kernels
    assert _mixing._jit.stats()["parallel_calls"] > 0
    with multiprocessing.get_context("fork").Pool(2) as pool:
        # under GNU OpenMP a parallel region in the child would abort it: time out instead
        got = pool.map_async(_all_in_child, [LONG, SHORT]).get(timeout=120)
    assert got[0] == ref
    assert got[1] == _all_in_child(SHORT)


def test_fresh_cache_short_call_first_still_runs_the_long_call_in_parallel(tmp_path):
    # numba's threading layer is only initialised once a parallel region has run, so it stays
    # unset if the cache served the serial kernel for the parallel one.
    code = """
        import json, numba, numpy as np
        import spatialfoa
        from spatialfoa import _jit, _mixing
        x = np.ones((4, 2 * _mixing.PARALLEL_MIN_SAMPLES), np.float32)
        spatialfoa.rotate(x[:, :100], 0.1)           # short call first (a data loader's)
        spatialfoa.rotate(x, 0.1)
        print(json.dumps({"layer": _jit.stats()["threading_layer"],
                          "parallel": _jit.stats()["parallel_calls"],
                          "hits": [sum(k.stats.cache_hits.values()) for k in
                                   (_mixing._mix_parallel, _mixing._mix_serial)]}))
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    for run in range(2):                            # compile into the cache, then load from it
        proc = _run_python(code, env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["layer"] is not None and out["parallel"] == 1
        assert out["hits"] == ([0, 0] if run == 0 else [1, 1])
    assert any((tmp_path / "cache").rglob("*.nbi"))


@pytest.mark.parametrize("n", [SHORT, LONG])
def test_parallel_and_serial_kernels_agree(n):
    x = _signal(n, 3)
    m = spatialfoa.rotation_matrix(0.4, -0.3, 0.9)
    outs = []
    for kernel in (_mixing._mix_parallel, _mixing._mix_serial):
        out = np.empty_like(x)
        bad = np.zeros(-(-n // _mixing.CHUNK), np.bool_)
        kernel(m, x, out, _mixing.CHUNK, bad)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], (m @ x.astype(np.float64)).astype(np.float32),
                               rtol=1e-6, atol=1e-6)
