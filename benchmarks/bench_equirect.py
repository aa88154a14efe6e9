"""Gnomonic crops: avsa_learn's vectorised crop vs py360convert.e2p called per frame and crop.

Workload of one training sample: 8 frames x 4 crops of 112x112 from a 1024x512 frame. Each round
draws new crop parameters (as training does), so py360convert's sampler cache only helps it
within a sample (the 8 frames of a crop); ``test_py360convert_e2p_warm_cache`` repeats the same
crops for its best case. Both run on one thread. The ratios are printed (``pytest
benchmarks/bench_equirect.py --benchmark-enable --benchmark-only -q -s``; on a machine shared
with other jobs add ``--benchmark-timer time.process_time``).
"""
import math

import numpy as np
import pytest

from avsa_learn.data.equirect import gnomonic_crop, pixel_to_direction

py360convert = pytest.importorskip("py360convert")

T, K, SIZE, W, H = 8, 4, 112, 1024, 512
_rng = np.random.default_rng(0)
FRAMES = _rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
_times = {}


def _params(rng):
    az = rng.uniform(-np.pi, np.pi, K)
    el = rng.uniform(-np.pi / 6, np.pi / 6, K)
    fov = 2 * np.arctan(np.pi * rng.uniform(0.0707, 0.25, K))
    return az, el, fov


def _e2p_all(params):
    az, el, fov = params
    out = np.empty((K, T, SIZE, SIZE, 3), np.uint8)
    for k in range(K):
        # same geometry: u_deg is positive to the right, grid on the border (see tests)
        fov_p = math.degrees(2 * math.atan(math.tan(fov[k] / 2) * (SIZE - 1) / SIZE))
        for t in range(T):
            out[k, t] = py360convert.e2p(FRAMES[t], fov_p, -math.degrees(az[k]),
                                         math.degrees(el[k]), (SIZE, SIZE))
    return out


def _run(benchmark, fn, key, fresh=True):
    rng = np.random.default_rng(1)
    fixed = _params(rng)
    setup = (lambda: ((_params(rng),), {})) if fresh else (lambda: ((fixed,), {}))
    fn(fixed)                                                  # compile / warm up
    benchmark.group = "gnomonic 8 frames x 4 crops"
    benchmark.extra_info["baseline"] = key == "e2p"            # see benchmarks/conftest.py
    benchmark.pedantic(fn, setup=setup, rounds=100, iterations=1, warmup_rounds=5)
    if benchmark.stats is None:                                # --benchmark-disable
        return
    _times[key] = benchmark.stats.stats
    for other, what in (("e2p", "fresh crops"), ("e2p_warm", "warm sampler cache")):
        if key in ("ours", other) and {"ours", other} <= set(_times):
            ratio = _times[other].median / _times["ours"].median
            best = _times[other].min / _times["ours"].min
            benchmark.extra_info[f"speedup_vs_{other}"] = ratio
            print(f"\ngnomonic_crop speed-up over py360convert.e2p ({what}): median {ratio:.1f}x, "
                  f"min {best:.1f}x")


def test_gnomonic_crop(benchmark):
    _run(benchmark, lambda p: gnomonic_crop(FRAMES, *p, size=SIZE), "ours")


def test_py360convert_e2p(benchmark):
    _run(benchmark, _e2p_all, "e2p")


def test_py360convert_e2p_warm_cache(benchmark):
    _run(benchmark, _e2p_all, "e2p_warm", fresh=False)


def test_same_output():
    """Both produce the same crops (up to cv2.remap's 1/32-pixel map quantisation)."""
    params = _params(np.random.default_rng(5))
    az, el = pixel_to_direction(np.arange(W)[None], np.arange(H)[:, None], W, H)
    xyz = np.stack(np.broadcast_arrays(np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                                       np.sin(el)), -1)
    smooth = np.round(127.5 + 120 * xyz).astype(np.uint8)[None]   # continuous on the sphere
    ours = gnomonic_crop(smooth, *params, size=SIZE)[:, 0].astype(float)
    az, el, fov = params
    for k in range(K):
        fov_p = math.degrees(2 * math.atan(math.tan(fov[k] / 2) * (SIZE - 1) / SIZE))
        theirs = py360convert.e2p(smooth[0], fov_p, -math.degrees(az[k]), math.degrees(el[k]),
                                  (SIZE, SIZE)).astype(float)
        assert np.abs(ours[k] - theirs).mean() < 1.0
