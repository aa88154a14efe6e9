"""Beamforming: unit on-axis gain, textbook shapes, directivity indices by numerical integration,
optimality of the named patterns, stereo per Eq. 9, and the numba path against numpy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spatialfoa.beamforming import (PATTERNS, beam_pattern, beam_weights, beamform, to_mono,
                                    to_stereo)
from spatialfoa.encoding import encode, sh_coefficients
from spatialfoa.rotation import align
from spatialfoa.validation import FOAError

AZ = st.floats(-np.pi, np.pi)
EL = st.floats(-np.pi / 2, np.pi / 2)
SETTINGS = settings(deadline=None, max_examples=50)


def cos_angle(az1, el1, az2, el2):
    """Spherical law of cosines."""
    return np.sin(el1) * np.sin(el2) + np.cos(el1) * np.cos(el2) * np.cos(az1 - az2)


def sphere_quadrature(n_el=64, n_az=128):
    """Gauss-Legendre in sin(elevation) x uniform azimuth: (azimuths, elevations, weights)."""
    t, wt = np.polynomial.legendre.leggauss(n_el)
    az = (np.arange(n_az) + 0.5) * 2 * np.pi / n_az - np.pi
    A, T = np.meshgrid(az, t)
    W = np.broadcast_to(wt[:, None] * 2 * np.pi / n_az, A.shape)
    return A.ravel(), np.arcsin(T).ravel(), W.ravel()


QUAD = sphere_quadrature()


def response(a, look_az, look_el):
    az, el, _ = QUAD
    return sh_coefficients(az, el) @ beam_weights(look_az, look_el, a)


def directivity_index_db(a, look_az=0.7, look_el=-0.3):
    weights = QUAD[2]
    r = response(a, look_az, look_el)
    return 10 * np.log10(4 * np.pi / np.sum(weights * r ** 2))


def test_pattern_constants():
    assert PATTERNS["omni"] == 1 and PATTERNS["figure8"] == 0
    assert PATTERNS["cardioid"] == 0.5 and PATTERNS["hypercardioid"] == 0.25
    assert PATTERNS["supercardioid"] == pytest.approx((np.sqrt(3) - 1) / 2)
    assert PATTERNS["max_re"] == pytest.approx(1 / (1 + np.sqrt(3)))


@SETTINGS
@given(AZ, EL, st.sampled_from(sorted(PATTERNS)))
def test_unit_on_axis_gain(az, el, pattern):
    s = np.random.default_rng(0).standard_normal(100)
    np.testing.assert_allclose(beamform(encode(s, az, el), az, el, pattern=pattern), s[None], atol=1e-12)


@SETTINGS
@given(AZ, EL, AZ, EL, st.floats(0, 1))
def test_textbook_shape(az0, el0, az, el, a):
    w = beam_weights(az0, el0, a)
    gain = w @ sh_coefficients(az, el)
    cg = cos_angle(az0, el0, az, el)
    assert gain == pytest.approx(a + (1 - a) * cg, abs=1e-12)
    assert beam_pattern(np.arccos(np.clip(cg, -1, 1)), a) == pytest.approx(gain, abs=1e-7)


def test_known_gains_and_nulls():
    gamma = np.linspace(-np.pi, np.pi, 721)
    for name, a in PATTERNS.items():
        np.testing.assert_allclose(beam_pattern(gamma, name), a + (1 - a) * np.cos(gamma))
    assert beam_pattern(np.pi, "cardioid") == pytest.approx(0)
    assert beam_pattern(np.pi / 2, "figure8") == pytest.approx(0)
    null = np.deg2rad(109.47122)
    s = np.ones(4)
    for sign in (1, -1):
        assert beam_pattern(sign * null, "hypercardioid") == pytest.approx(0, abs=1e-6)
        y = beamform(encode(s, 0.4 + sign * null, 0.0), 0.4, 0.0)
        np.testing.assert_allclose(y, 0, atol=1e-6)
    np.testing.assert_allclose(beam_weights(np.pi / 2, 0, "hypercardioid"), [0.25, 0.75, 0, 0],
                               atol=1e-16)


@pytest.mark.parametrize("name, di", [("cardioid", 4.77), ("hypercardioid", 6.02),
                                      ("supercardioid", 5.72), ("omni", 0.0)])
def test_directivity_index(name, di):
    assert QUAD[2].sum() == pytest.approx(4 * np.pi)
    assert directivity_index_db(name) == pytest.approx(di, abs=0.006)


def test_named_patterns_are_optimal():
    a_grid = np.linspace(0, 1, 1001)
    az, el, wq = QUAD
    cosg = cos_angle(az, el, 0.7, -0.3)
    front = cosg > 0
    di, fb, re = [], [], []
    for a in a_grid:
        p = response(a, 0.7, -0.3) ** 2 * wq
        di.append(4 * np.pi / p.sum())
        fb.append(p[front].sum() / p[~front].sum())
        re.append(np.sum(p * cosg) / p.sum())       # |rE| of a frontal source, on axis
    assert a_grid[np.argmax(di)] == pytest.approx(PATTERNS["hypercardioid"], abs=1e-3)
    assert a_grid[np.argmax(fb)] == pytest.approx(PATTERNS["supercardioid"], abs=2e-3)
    assert a_grid[np.argmax(re)] == pytest.approx(PATTERNS["max_re"], abs=2e-3)


def test_many_beams_and_dtype():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2000)).astype(np.float32)
    az, el = np.array([0.0, 1.0, -2.0, 3.0]), np.array([0.1, -0.5, 0.0, 1.2])
    y = beamform(x, az, el, pattern="cardioid")
    assert y.shape == (4, 2000) and y.dtype == np.float32
    for k in range(4):
        np.testing.assert_allclose(y[k:k + 1], beamform(x, az[k], el[k], pattern="cardioid"))
    ref = np.einsum("bc,cn->bn", beam_weights(az, el, "cardioid"), x.astype(np.float64))
    np.testing.assert_allclose(y, ref.astype(np.float32), rtol=1e-6, atol=1e-6)
    assert beamform(x, 0.3, 0.0).shape == (1, 2000)
    assert beamform(x, np.zeros((2, 3)), 0.0).shape == (6, 2000)
    np.testing.assert_array_equal(beamform(x, 0.3, 0.2, pattern=0.25), beamform(x, 0.3, 0.2))


def test_stereo_of_left_source_exact():
    s = np.random.default_rng(2).standard_normal(500)
    lr = to_stereo(encode(s, np.pi / 2, 0.0))
    assert lr.shape == (2, 500)
    np.testing.assert_allclose(lr, [s, -0.5 * s], atol=1e-12)          # L = 1, R = -0.5
    rl = to_stereo(encode(s, -np.pi / 2, 0.0))
    np.testing.assert_allclose(rl, [-0.5 * s, s], atol=1e-12)
    np.testing.assert_allclose(to_stereo(encode(s, 0.0, 0.0)), [0.25 * s, 0.25 * s], atol=1e-12)


@SETTINGS
@given(AZ, st.floats(-1.3, 1.3), st.floats(0.1, 1.5))
def test_stereo_after_align(az0, el0, offset):
    s = np.random.default_rng(3).standard_normal(64)
    # the crop's left, seen from a view centred at (az0, el0), is (az0 + pi/2, 0)
    lr = to_stereo(encode(s, az0 + np.pi / 2, 0.0), az0, el0)
    np.testing.assert_allclose(lr, [s, -0.5 * s], atol=1e-12)
    # a source left of the crop centre at the same elevation is louder in L
    l, r = to_stereo(encode(s, az0 + offset, el0), az0, el0)
    assert np.sum(l ** 2) > np.sum(r ** 2)
    # Eq. 9: [u(90°), u(-90°)]^T Q(az0, -el0, 0) x
    x = encode(s, 0.3, 0.2)
    expected = beamform(align(x, az0, el0), np.array([np.pi / 2, -np.pi / 2]), 0.0)
    np.testing.assert_allclose(to_stereo(x, az0, el0), expected, atol=1e-12)


@SETTINGS
@given(AZ, EL)
def test_mono_is_frontal_beam_after_align(az0, el0):
    x = np.random.default_rng(4).standard_normal((4, 64))
    y = to_mono(x, az0, el0)
    assert y.shape == (1, 64)
    np.testing.assert_allclose(y, beamform(align(x, az0, el0), 0.0, 0.0), atol=1e-12)


def test_bad_input():
    x = np.zeros((4, 10))
    with pytest.raises(FOAError, match="unknown beam pattern 'shotgun'"):
        beamform(x, 0, 0, pattern="shotgun")
    with pytest.raises(FOAError, match=r"\[0, 1\]"):
        beam_weights(0, 0, 1.5)
    with pytest.raises(FOAError, match="expected 4 channels, got 2"):
        beamform(x[:2], 0, 0)
    with pytest.raises(FOAError, match="transposed"):
        to_stereo(x.T)
    with pytest.raises(FOAError, match="2-D"):
        to_mono(np.zeros(4), 0, 0)
    with pytest.raises(FOAError, match="azimuth"):
        to_mono(x, np.zeros(2), 0)
    bad = x.copy()
    bad[3, 9] = np.nan
    with pytest.raises(FOAError, match="channel 3, sample 9"):
        to_stereo(bad)
