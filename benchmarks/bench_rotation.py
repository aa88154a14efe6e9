"""Rotation and beamforming on a (4, 10^7) float32 signal against numpy baselines in the same run.

Run: python -m pytest benchmarks/bench_rotation.py --benchmark-enable --benchmark-only -q
(add NUMBA_CACHE_DIR=$(mktemp -d) for a fresh on-disk cache). Goal (issue 7): rotate of (4, 10^7)
float32 <= 1.25x ``x.copy()`` (the memory-bound limit) and not slower than float32 BLAS
``Q32 @ x``, in any process history: every kernel benchmark makes a short call first (as a data
loader does) and records in extra_info the numba threading layer that ran and whether the
parallel kernel was used for the long calls.
"""
import numpy as np
import pytest

from spatialfoa import _jit
from spatialfoa.beamforming import beam_weights, beamform
from spatialfoa.rotation import rotate, rotation_matrix

ANGLES = (0.3, 0.2, -0.1)
LOOK_AZ = np.array([0.0, np.pi / 2, np.pi, -np.pi / 2])
LOOK_EL = np.array([0.1, 0.0, -0.2, 0.3])


def _record_kernels(benchmark, before):
    """extra_info: numba's threading layer and whether the parallel kernel ran (always, or
    only in some rounds: another thread held it)."""
    after = _jit.stats()
    benchmark.extra_info["threading_layer"] = after["threading_layer"]
    benchmark.extra_info["parallel_calls"] = after["parallel_calls"] - before["parallel_calls"]
    benchmark.extra_info["serial_calls"] = after["serial_calls"] - before["serial_calls"]
    print(f"\n{benchmark.name}: threading layer {after['threading_layer']}, parallel kernel "
          f"{benchmark.extra_info['parallel_calls']} calls, serial "
          f"{benchmark.extra_info['serial_calls']}")


@pytest.mark.benchmark(group="rotate (4, 1e7) float32")
def test_rotate_numba(benchmark, foa_float32):
    rotate(foa_float32[:, :100], *ANGLES)                 # short call first (compiles serial)
    rotate(foa_float32, *ANGLES)                          # compile the parallel kernel
    before = _jit.stats()
    y = benchmark(rotate, foa_float32, *ANGLES)
    _record_kernels(benchmark, before)
    assert y.dtype == np.float32
    assert benchmark.extra_info["parallel_calls"] > 0 and _jit.stats()["threading_layer"]


@pytest.mark.benchmark(group="rotate (4, 1e7) float32")
def test_rotate_copy_baseline(benchmark, foa_float32):
    benchmark.extra_info["baseline"] = True
    benchmark(foa_float32.copy)


@pytest.mark.benchmark(group="rotate (4, 1e7) float32")
def test_rotate_numpy_matmul_q64(benchmark, foa_float32):
    q = rotation_matrix(*ANGLES)                          # float64 Q: result is float64
    benchmark(np.matmul, q, foa_float32)


@pytest.mark.benchmark(group="rotate (4, 1e7) float32")
def test_rotate_numpy_matmul_q32(benchmark, foa_float32):
    q = rotation_matrix(*ANGLES).astype(np.float32)       # same dtype: BLAS sgemm
    benchmark(np.matmul, q, foa_float32)


@pytest.mark.parametrize("n_beams", [1, 4])
def test_beamform_numba(benchmark, foa_float32, n_beams):
    benchmark.group = f"beamform {n_beams} beam(s) (4, 1e7) float32"
    az, el = LOOK_AZ[:n_beams], LOOK_EL[:n_beams]
    beamform(foa_float32[:, :100], az, el)
    beamform(foa_float32, az, el)
    before = _jit.stats()
    y = benchmark(beamform, foa_float32, az, el)
    _record_kernels(benchmark, before)
    assert y.shape == (n_beams, foa_float32.shape[1])


@pytest.mark.parametrize("n_beams", [1, 4])
def test_beamform_numpy_einsum(benchmark, foa_float32, n_beams):
    benchmark.group = f"beamform {n_beams} beam(s) (4, 1e7) float32"
    benchmark.extra_info["baseline"] = True
    w = beam_weights(LOOK_AZ[:n_beams], LOOK_EL[:n_beams], "hypercardioid").astype(np.float32)
    benchmark(np.einsum, "bc,cn->bn", w, foa_float32)
