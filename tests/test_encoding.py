"""Encoding (paper Eq. 3): hand-computed directions, source sums, the diffuse field's energy
balance, and direction round trips."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spatialfoa.encoding import (cartesian_to_spherical, diffuse_field, direction_vector, encode,
                                 fibonacci_sphere, sh_coefficients)
from spatialfoa.validation import FOAError

R2 = np.sqrt(2) / 2
R3 = np.sqrt(3) / 2


@pytest.mark.parametrize("az, el, expected", [
    (0.0, 0.0, [1, 0, 0, 1]),                       # front: X = 1
    (np.pi / 2, 0.0, [1, 1, 0, 0]),                 # left: Y = 1
    (-np.pi / 2, 0.0, [1, -1, 0, 0]),               # right: Y = -1
    (np.pi, 0.0, [1, 0, 0, -1]),                    # back: X = -1
    (0.3, np.pi / 2, [1, 0, 1, 0]),                 # zenith, any azimuth: Z = 1
    (0.0, -np.pi / 2, [1, 0, -1, 0]),               # nadir
    (np.pi / 4, 0.0, [1, R2, 0, R2]),               # front-left
    (np.pi / 6, np.pi / 3, [1, 0.5 * 0.5, R3, R3 * 0.5]),
    (-3 * np.pi / 4, np.pi / 4, [1, -R2 * R2, R2, -R2 * R2]),
])
def test_sh_coefficients_hand_computed(az, el, expected):
    np.testing.assert_allclose(sh_coefficients(az, el), expected, atol=1e-15)
    s = np.array([0.5, -2.0, 3.0])
    x = encode(s, az, el)
    assert x.shape == (4, 3)
    np.testing.assert_allclose(x, np.outer(expected, s), atol=1e-15)


def test_direction_vector_axes_and_broadcast():
    np.testing.assert_allclose(direction_vector(np.pi / 2, 0), [0, 1, 0], atol=1e-16)
    np.testing.assert_allclose(direction_vector(0, np.pi / 2), [0, 0, 1], atol=1e-16)
    v = direction_vector(np.linspace(-3, 3, 7)[:, None], np.linspace(-1.5, 1.5, 5))
    assert v.shape == (7, 5, 3)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0)
    assert sh_coefficients(np.zeros(7), 0.2).shape == (7, 4)


@settings(deadline=None, max_examples=100)
@given(st.floats(-np.pi + 1e-9, np.pi), st.floats(-1.5, 1.5), st.floats(1e-3, 1e3))
def test_cartesian_to_spherical_round_trip(az, el, scale):
    got_az, got_el = cartesian_to_spherical(scale * direction_vector(az, el))
    assert got_el == pytest.approx(el, abs=1e-9)
    assert np.angle(np.exp(1j * (got_az - az))) == pytest.approx(0.0, abs=1e-9)


def test_cartesian_to_spherical_special_vectors():
    az, el = cartesian_to_spherical([[0, 1, 0], [-1, 0, 0], [0, 0, 2], [0, 0, 0]])
    np.testing.assert_allclose(az, [np.pi / 2, np.pi, 0, 0])
    np.testing.assert_allclose(el, [0, 0, np.pi / 2, 0])
    with pytest.raises(FOAError, match=r"\(\.\.\., 3\)"):
        cartesian_to_spherical([1, 2])


def test_encode_many_sources_is_the_sum():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((3, 200))
    az, el = np.array([0.1, 2.0, -1.0]), np.array([0.0, 0.5, -0.7])
    expected = sum(np.outer(sh_coefficients(a, e), si) for a, e, si in zip(az, el, s))
    np.testing.assert_allclose(encode(s, az, el), expected, atol=1e-12)
    # scalar elevation broadcasts against the sources
    np.testing.assert_allclose(encode(s, az, 0.0), encode(s, az, np.zeros(3)))
    # one signal from two opposite directions: the dipoles cancel, W doubles
    y = encode(s[0], np.array([0.4, 0.4 + np.pi]), 0.0)
    np.testing.assert_allclose(y, np.outer([2, 0, 0, 0], s[0]), atol=1e-12)


def test_encode_keeps_float32_and_rejects_bad_input():
    s = np.ones(10, dtype=np.float32)
    assert encode(s, 0.1, 0.2).dtype == np.float32
    assert encode(np.ones(10, dtype=np.int32), 0.1, 0.2).dtype == np.float64
    with pytest.raises(FOAError, match="3 sources but 2 directions"):
        encode(np.ones((3, 10)), np.zeros(2), 0.0)
    with pytest.raises(FOAError, match="elevation"):
        encode(np.ones(10), 0.0, np.nan)
    bad = np.ones(10)
    bad[4] = np.inf
    with pytest.raises(FOAError, match="sample 4"):
        encode(bad, 0.0, 0.0)


def test_fibonacci_grid_is_uniform():
    az, el = fibonacci_sphere(240).T
    v = direction_vector(az, el)
    # first and second moments of a uniform distribution: mean 0, covariance I/3
    np.testing.assert_allclose(v.mean(axis=0), 0, atol=0.01)
    np.testing.assert_allclose(v.T @ v / len(v), np.eye(3) / 3, atol=0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_diffuse_field_energy_balance(dtype):
    x = diffuse_field(48000, rng=0, dtype=dtype)
    assert x.shape == (4, 48000) and x.dtype == dtype
    assert np.mean(x[0].astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
    power = np.mean(x.astype(np.float64) ** 2, axis=1)
    assert power[1:].sum() / power[0] == pytest.approx(1.0, abs=0.03)     # E_xyz / E_w
    np.testing.assert_allclose(power[1:], 1 / 3, atol=0.02)                # isotropic
    corr = np.corrcoef(x.astype(np.float64))
    np.testing.assert_allclose(corr, np.eye(4), atol=0.03)                 # uncorrelated
    # white: the lag-1 autocorrelation of W vanishes
    assert abs(np.mean(x[0, 1:] * x[0, :-1])) < 0.03


def test_diffuse_field_reproducible_and_validated():
    np.testing.assert_array_equal(diffuse_field(100, rng=3), diffuse_field(100, rng=3))
    assert not np.array_equal(diffuse_field(100, rng=3), diffuse_field(100, rng=4))
    few = diffuse_field(20000, n_directions=6, rng=np.random.default_rng(1))
    assert (few[1:] ** 2).sum() / (few[0] ** 2).sum() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(FOAError, match="n_samples"):
        diffuse_field(0)
    with pytest.raises(FOAError, match="dtype"):
        diffuse_field(10, dtype=np.int16)
