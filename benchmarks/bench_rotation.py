"""Rotation and beamforming on a (4, 10^7) float32 signal against numpy baselines in the same run.

Run: python -m pytest benchmarks/bench_rotation.py --benchmark-enable --benchmark-only -q
Goal (issue): rotate within 1.5x of x.copy() and at least 2x faster than ``Q @ x``.
"""
import numpy as np
import pytest

from spatialfoa.beamforming import beam_weights, beamform
from spatialfoa.rotation import rotate, rotation_matrix

ANGLES = (0.3, 0.2, -0.1)
LOOK_AZ = np.array([0.0, np.pi / 2, np.pi, -np.pi / 2])
LOOK_EL = np.array([0.1, 0.0, -0.2, 0.3])


@pytest.mark.benchmark(group="rotate (4, 1e7) float32")
def test_rotate_numba(benchmark, foa_float32):
    rotate(foa_float32[:, :100], *ANGLES)                 # compile outside the timing
    y = benchmark(rotate, foa_float32, *ANGLES)
    assert y.dtype == np.float32


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
    y = benchmark(beamform, foa_float32, az, el)
    assert y.shape == (n_beams, foa_float32.shape[1])


@pytest.mark.parametrize("n_beams", [1, 4])
def test_beamform_numpy_einsum(benchmark, foa_float32, n_beams):
    benchmark.group = f"beamform {n_beams} beam(s) (4, 1e7) float32"
    benchmark.extra_info["baseline"] = True
    w = beam_weights(LOOK_AZ[:n_beams], LOOK_EL[:n_beams], "hypercardioid").astype(np.float32)
    benchmark(np.einsum, "bc,cn->bn", w, foa_float32)
