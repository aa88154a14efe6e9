"""Rotation: matrices against the convention written out by hand, plane-wave behaviour, the numba
kernels against plain numpy, and input validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spatialfoa import _mixing
from spatialfoa.encoding import encode, sh_coefficients
from spatialfoa.rotation import (align, align_matrix, rotate, rotate_blocks, rotation_matrix,
                                 rotation_matrix_xyz)
from spatialfoa.validation import FOAError

AZ = st.floats(-np.pi, np.pi)
EL = st.floats(-np.pi / 2, np.pi / 2)
ANY = st.floats(-2 * np.pi, 2 * np.pi)
SETTINGS = settings(deadline=None, max_examples=60)


def spec_matrix(yaw, pitch, roll):
    """docs/conventions.md written out: Rx(roll)·Ry(pitch)·Rz(yaw), permuted to ACN W, Y, Z, X."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
    c, s = np.cos(pitch), np.sin(pitch)
    ry = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    c, s = np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, c, s], [0, -s, c]])
    # P maps (x, y, z) to ACN (W, Y, Z, X) dipoles: Y = y, Z = z, X = x.
    p = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    q = p @ (rx @ ry @ rz) @ p.T
    q[0, 0] = 1.0
    return q


def plane_wave(az, el):
    """SN3D plane wave gains of paper Eq. 3, written independently of the library."""
    return np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])


@SETTINGS
@given(ANY, ANY, ANY)
def test_matrix_follows_convention(yaw, pitch, roll):
    q = rotation_matrix(yaw, pitch, roll)
    assert q.shape == (4, 4)
    np.testing.assert_allclose(q, spec_matrix(yaw, pitch, roll), atol=1e-12)


@SETTINGS
@given(ANY, ANY, ANY)
def test_orthogonal_det_one_w_untouched(yaw, pitch, roll):
    q = rotation_matrix(yaw, pitch, roll)
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)
    assert np.linalg.det(q) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(q[0], [1, 0, 0, 0])
    np.testing.assert_array_equal(q[:, 0], [1, 0, 0, 0])
    np.testing.assert_allclose(np.linalg.inv(q), q.T, atol=1e-12)


@SETTINGS
@given(ANY, ANY, ANY)
def test_compose_and_invert(a, b, c):
    yaw = lambda t: rotation_matrix(t, 0.0, 0.0)  # noqa: E731
    np.testing.assert_allclose(yaw(b) @ yaw(a), yaw(a + b), atol=1e-12)
    np.testing.assert_allclose(yaw(a).T, yaw(-a), atol=1e-12)
    np.testing.assert_allclose(rotation_matrix(0, a, 0).T, rotation_matrix(0, -a, 0), atol=1e-12)
    # yaw first, then pitch, then roll
    np.testing.assert_allclose(
        rotation_matrix(a, b, c),
        rotation_matrix(0, 0, c) @ rotation_matrix(0, b, 0) @ rotation_matrix(a, 0, 0), atol=1e-12)


def test_known_matrices():
    np.testing.assert_allclose(rotation_matrix(np.pi / 2, 0, 0) @ [1, 1, 0, 0], [1, 0, 0, 1],
                               atol=1e-15)       # left -> front
    np.testing.assert_allclose(rotation_matrix_xyz(np.pi / 2, 0, 0) @ [0, 1, 0], [1, 0, 0],
                               atol=1e-15)
    np.testing.assert_allclose(rotation_matrix(0, np.pi / 2, 0) @ [1, 0, 0, 1], [1, 0, 1, 0],
                               atol=1e-15)       # front -> up
    np.testing.assert_allclose(rotation_matrix(0, 0, np.pi / 2) @ [1, 1, 0, 0], [1, 0, -1, 0],
                               atol=1e-15)       # left -> down
    stacked = rotation_matrix(np.array([0.1, 0.2]), 0.3, np.array([[0.4], [0.5]]))
    assert stacked.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(stacked[1, 0], spec_matrix(0.1, 0.3, 0.5), atol=1e-12)


@SETTINGS
@given(AZ, EL, ANY)
def test_yaw_moves_azimuth(az, el, yaw):
    np.testing.assert_allclose(rotation_matrix(yaw, 0, 0) @ plane_wave(az, el),
                               plane_wave(az - yaw, el), atol=1e-12)


@SETTINGS
@given(st.floats(0.01, np.pi / 2))
def test_positive_pitch_raises_front_positive_roll_lowers_left(angle):
    np.testing.assert_allclose(rotation_matrix(0, angle, 0) @ plane_wave(0, 0),
                               plane_wave(0, angle), atol=1e-12)
    np.testing.assert_allclose(rotation_matrix(0, 0, angle) @ plane_wave(np.pi / 2, 0),
                               plane_wave(np.pi / 2, -angle), atol=1e-12)


@settings(deadline=None, max_examples=150)
@given(AZ, EL)
def test_align_brings_any_direction_to_front(az, el):
    np.testing.assert_allclose(align_matrix(az, el) @ plane_wave(az, el), [1, 0, 0, 1],
                               atol=1e-12)
    s = np.random.default_rng(1).standard_normal(64)
    np.testing.assert_allclose(align(encode(s, az, el), az, el), encode(s, 0.0, 0.0),
                               atol=1e-12)


def test_align_pitch_before_yaw_would_be_wrong():
    # The reference code's order (pitch applied before yaw) misses the front off the horizon.
    az, el = 1.0, 0.6
    wrong = rotation_matrix(az, 0, 0) @ rotation_matrix(0, -el, 0)
    assert not np.allclose(wrong @ plane_wave(az, el), [1, 0, 0, 1], atol=1e-3)
    np.testing.assert_allclose(align_matrix(az, el), rotation_matrix(az, -el, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotate_signal_dtype_and_values(dtype):
    rng = np.random.default_rng(0)
    s = rng.standard_normal(5000)
    x = encode(s, 0.7, -0.3).astype(dtype)
    y = rotate(x, 0.5, 0.2, -0.4)
    assert y.dtype == dtype and y.shape == x.shape
    ref = (spec_matrix(0.5, 0.2, -0.4) @ x.astype(np.float64)).astype(dtype)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rotate(x, 0.3), spec_matrix(0.3, 0, 0) @ x, atol=1e-5)
    # non-contiguous and integer input
    np.testing.assert_allclose(rotate(x[:, ::3], 0.5, 0.2, -0.4), ref[:, ::3], atol=1e-6)
    assert rotate(np.ones((4, 3), dtype=np.int16), 0.1).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, _mixing.CHUNK, 3 * _mixing.CHUNK + 5,
                               _mixing.PARALLEL_MIN_SAMPLES + 5])
@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_mix_kernel_matches_numpy(dtype, n, k):
    rng = np.random.default_rng(n + k)
    m = rng.standard_normal((k, 4))
    x = rng.standard_normal((4, n)).astype(dtype)
    y = _mixing.mix(m, x)
    assert y.dtype == dtype and y.shape == (k, n)
    ref = (m @ x.astype(np.float64)).astype(dtype)   # float64 accumulation, one rounding
    np.testing.assert_allclose(y, ref, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-12)


def _mix_in_child(n):
    x = np.ones((4, n), dtype=np.float32)
    return float(_mixing.mix(np.eye(4), x).sum())


def test_parallel_kernel_survives_fork():
    """A process that ran the parallel kernel can still run it in fork()ed children
    (DataLoader workers): GNU OpenMP would abort them, so children of such a process run the
    serial kernels (spatialfoa._jit)."""
    import multiprocessing

    n = 2 * _mixing.PARALLEL_MIN_SAMPLES
    assert _mix_in_child(n) == 4 * n                  # parent runs the parallel kernel first
    with multiprocessing.get_context("fork").Pool(2) as pool:
        # under GNU OpenMP the children die and the map never returns: time out instead
        assert pool.map_async(_mix_in_child, [n, n]).get(timeout=60) == [4 * n, 4 * n]


def slow_blocks(x, yaw, pitch, roll, block_size):
    """Per-sample numpy reference of the SAF-style cross-fade."""
    q = [spec_matrix(a, b, c) for a, b, c in zip(yaw, pitch, roll)]
    out = np.empty(x.shape)
    for t in range(x.shape[1]):
        b, i = divmod(t, block_size)
        g = (i + 1) / block_size
        m = (1 - g) * q[max(b - 1, 0)] + g * q[b]
        out[:, t] = m @ x[:, t].astype(np.float64)
    return out.astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, block", [(1000, 100), (1037, 64), (50, 128)])
def test_rotate_blocks_matches_slow_loop(dtype, n, block):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((4, n)).astype(dtype)
    nb = -(-n // block)
    yaw, pitch, roll = rng.uniform(-np.pi, np.pi, (3, nb))
    y = rotate_blocks(x, yaw, pitch, roll, block)
    assert y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, slow_blocks(x, yaw, pitch, roll, block), rtol=tol, atol=tol)
    # each full block ends exactly on its own rotation
    for b in range(n // block):
        end = (b + 1) * block - 1
        np.testing.assert_allclose(y[:, end], spec_matrix(yaw[b], pitch[b], roll[b]) @ x[:, end],
                                   rtol=tol, atol=tol)


def test_rotate_blocks_constant_equals_rotate():
    x = np.random.default_rng(2).standard_normal((4, 3001))
    nb = -(-3001 // 256)
    y = rotate_blocks(x, np.full(nb, 0.4), np.full(nb, -0.2), np.full(nb, 1.1), 256)
    np.testing.assert_allclose(y, rotate(x, 0.4, -0.2, 1.1), atol=1e-12)
    np.testing.assert_allclose(rotate_blocks(x, 0.4, -0.2, 1.1, 256), y, atol=1e-15)


def test_rotate_blocks_tracks_a_moving_source():
    # Turning the head left step by step keeps a source that moves left in front.
    block, nb = 480, 20
    az = np.linspace(0, np.pi / 2, nb)
    s = np.ones(block * nb)
    x = np.concatenate([encode(s[:block], a, 0.0) for a in az], axis=1)
    y = rotate_blocks(x, az, np.zeros(nb), np.zeros(nb), block)
    ends = np.arange(nb) * block + block - 1
    np.testing.assert_allclose(y[:, ends], np.tile(sh_coefficients(0, 0)[:, None], nb),
                               atol=1e-12)


def test_bad_input_raises_clear_errors():
    x = np.zeros((4, 100))
    with pytest.raises(FOAError, match="expected 4 channels, got 3"):
        rotate(x[:3], 0.1)
    with pytest.raises(FOAError, match="2-D array"):
        rotate(np.zeros(100), 0.1)
    with pytest.raises(FOAError, match="transposed"):
        rotate(x.T, 0.1)
    bad = x.astype(np.float32)
    bad[2, 99] = np.nan
    with pytest.raises(FOAError, match="channel 2, sample 99"):
        rotate(bad, 0.1)
    bad = np.zeros((4, 3 * _mixing.CHUNK))
    bad[1, -1] = np.inf
    with pytest.raises(FOAError, match="non-finite"):
        align(bad, 0.2, 0.1)
    with pytest.raises(FOAError, match="non-finite"):
        rotate_blocks(bad, 0.0, 0.0, 0.0, 64)
    with pytest.raises(FOAError, match="yaw"):
        rotate(x, np.nan)
    with pytest.raises(FOAError, match="scalar"):
        rotate(x, np.zeros(3))
    with pytest.raises(FOAError, match="n_blocks"):
        rotate_blocks(x, np.zeros(3), 0.0, 0.0, 10)
    with pytest.raises(FOAError, match="block_size"):
        rotate_blocks(x, 0.0, 0.0, 0.0, 0)


def test_finite_input_that_overflows_is_not_reported_as_nan():
    big = np.finfo(np.float32).max
    x = np.array([[0.0], [big], [0.0], [big]], dtype=np.float32)
    y = rotate(x, np.pi / 4)            # |X'| = sqrt(2)·max overflows float32
    assert np.isinf(y).any()


@pytest.mark.realdata
def test_rotation_keeps_real_recording_energies(data_dir):
    sf = pytest.importorskip("soundfile")
    path = data_dir / "foa" / "eigenmike_hall_recording_foa_ambix.wav"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    x, _ = sf.read(path, dtype="float32", always_2d=True)
    x = np.ascontiguousarray(x.T)
    y = rotate(x, 1.2, -0.4, 0.7)
    e_x = (x.astype(np.float64) ** 2).sum(axis=1)
    e_y = (y.astype(np.float64) ** 2).sum(axis=1)
    assert e_y[0] == pytest.approx(e_x[0], rel=1e-6)                  # W untouched
    assert e_y[1:].sum() == pytest.approx(e_x[1:].sum(), rel=1e-5)    # dipole energy kept
    assert not np.allclose(e_y[1:], e_x[1:], rtol=1e-2)               # but redistributed
