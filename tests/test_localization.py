"""Acoustic map: the vote kernel against numpy, the grid layout of docs/conventions.md, peaks of
plane waves and of two sources, the solid-angle weighting, and input validation."""
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings, strategies as st

from spatialfoa import _feature_kernels as _k
# ``spatialfoa.acoustic_map`` is both a module and the lazily exported function of the same name:
# import names from the module explicitly.
from spatialfoa.localization import _smooth, _votes, acoustic_map, dominant_directions
from spatialfoa.encoding import diffuse_field
from spatialfoa.features import stft
from spatialfoa.validation import FOAError

SR = 24000
RNG = np.random.default_rng(5)


def plane_wave(s, az, el):
    """ambiX (SN3D) plane wave of paper Eq. 3, written independently of the library."""
    u = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return u[:, None] * s[None, :]


def angle_between(a, b):
    """Great-circle angle between directions a = (az, el) and b."""
    ua = np.array([np.cos(a[0]) * np.cos(a[1]), np.sin(a[0]) * np.cos(a[1]), np.sin(a[1])])
    ub = np.array([np.cos(b[0]) * np.cos(b[1]), np.sin(b[0]) * np.cos(b[1]), np.sin(b[1])])
    return np.arccos(np.clip(ua @ ub, -1, 1))


def cell_of(az, el, n_az=72, n_el=36):
    """Equirectangular cell (row, column) of a direction, docs/conventions.md."""
    col = int(np.floor((np.pi - az) / (2 * np.pi) * n_az)) % n_az
    row = min(int(np.floor((np.pi / 2 - el) / np.pi * n_el)), n_el - 1)
    return row, col


def band_noise(lo, hi, n, rng):
    sos = scipy.signal.butter(6, [lo, hi], "bandpass", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal(n))


def ref_votes(spec, k0, k1, n_az, n_el):
    """Plain numpy version of the vote histogram."""
    s = spec[:, :, k0:k1].astype(np.complex128)
    ix, iy, iz = np.real(np.conj(s[0])[None] * s[[3, 1, 2]]).reshape(3, -1)
    mag = np.sqrt(ix ** 2 + iy ** 2 + iz ** 2)
    keep = mag > 0
    az = np.arctan2(iy, ix)
    el = np.arctan2(iz, np.hypot(ix, iy))
    col = np.clip(np.floor((np.pi - az) / (2 * np.pi) * n_az).astype(int), 0, n_az - 1)
    row = np.clip(np.floor((np.pi / 2 - el) / np.pi * n_el).astype(int), 0, n_el - 1)
    hist = np.zeros((n_el, n_az))
    vec = np.zeros((n_el, n_az, 3))
    np.add.at(hist, (row[keep], col[keep]), mag[keep])
    for c, comp in enumerate((ix, iy, iz)):
        np.add.at(vec[..., c], (row[keep], col[keep]), comp[keep])
    return hist, vec


def test_vote_kernel_matches_numpy():
    spec = (RNG.standard_normal((4, 40, 257)) + 1j * RNG.standard_normal((4, 40, 257))).astype(
        np.complex64)
    spec[:, 7] = 0                                 # a silent frame casts no vote
    hist, vec = _k.intensity_votes(spec, 3, 90, 72, 36)
    ref_hist, ref_vec = ref_votes(spec, 3, 90, 72, 36)
    np.testing.assert_allclose(hist, ref_hist, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(vec, ref_vec, rtol=1e-9, atol=1e-9)


def test_grid_follows_equirectangular_convention():
    m = acoustic_map(RNG.standard_normal((4, SR // 10)), SR, n_azimuth=8, n_elevation=4)
    # Column x centre: π(1 − 2(x + 0.5)/W); row y centre: π/2(1 − 2(y + 0.5)/H).
    np.testing.assert_allclose(m.azimuth, np.pi * (1 - 2 * (np.arange(8) + 0.5) / 8))
    np.testing.assert_allclose(m.elevation, np.pi / 2 * (1 - 2 * (np.arange(4) + 0.5) / 4))
    assert m.map.shape == (4, 8)


@pytest.mark.parametrize("az_deg, el_deg, cell", [
    (89.0, 1.0, (17, 18)),        # left: column W/4, just above the horizon row H/2 - 1
    (1.0, -1.0, (18, 35)),        # just left of front: column W/2 - 1, below the horizon
    (-1.0, 1.0, (17, 36)),        # just right of front: column W/2
    (179.0, 89.0, (0, 0)),        # back-left, near the zenith: top-left corner
    (-179.0, -89.0, (35, 71)),    # back-right, near the nadir: bottom-right corner
])
def test_plane_wave_lands_in_its_cell(az_deg, el_deg, cell):
    s = RNG.standard_normal(SR // 4)
    m = acoustic_map(plane_wave(s, np.radians(az_deg), np.radians(el_deg)), SR)
    assert np.unravel_index(m.map.argmax(), m.map.shape) == cell
    assert cell == cell_of(np.radians(az_deg), np.radians(el_deg))


@settings(deadline=None, max_examples=20)
@given(st.floats(-np.pi, np.pi), st.floats(-1.5, 1.5), st.integers(0, 2 ** 32 - 1))
def test_plane_wave_peak_and_dominant_direction(az, el, seed):
    s = np.random.default_rng(seed).standard_normal(SR // 4)
    x = plane_wave(s, az, el)
    m = acoustic_map(x, SR)
    row, col = np.unravel_index(m.map.argmax(), m.map.shape)
    # Every bin votes for exactly (az, el): the peak cell contains it (within one cell).
    assert abs(m.elevation[row] - el) <= np.radians(5) * 0.5 + 1e-9
    daz = np.angle(np.exp(1j * (m.azimuth[col] - az)))
    assert abs(daz) * np.cos(el) <= np.radians(5) * 0.5 + 1e-9
    # The refinement sums the intensity vectors: exact for a plane wave.
    found = dominant_directions(x, SR)[0]
    assert angle_between(found, (az, el)) < 1e-4


def test_map_is_a_density_on_the_sphere():
    m = acoustic_map(diffuse_field(4 * SR, rng=2), SR)
    edges = np.pi / 2 - np.pi * np.arange(37) / 36
    solid = 2 * np.pi / 72 * (np.sin(edges[:-1]) - np.sin(edges[1:]))
    assert (m.map * solid[:, None]).sum() == pytest.approx(1.0, rel=1e-12)
    # Isotropic sound => the same density per steradian at every elevation (the cell
    # solid angle shrinks as cos(el); without that weighting polar rows would be ~0).
    rows = m.map.mean(axis=1) * 4 * np.pi
    np.testing.assert_allclose(rows[3:-3], 1.0, atol=0.15)
    assert abs(rows.mean() - 1) < 0.05


def test_two_sources_in_separate_bands():
    # W-disjoint sources (different bands): each bin votes for one of them.
    rng = np.random.default_rng(11)
    a, b = (np.radians(60), np.radians(20)), (np.radians(-100), np.radians(-10))
    x = (plane_wave(band_noise(200, 1500, SR, rng), *a)
         + plane_wave(0.7 * band_noise(2000, 3800, SR, rng), *b))
    found = dominant_directions(x, SR, k=2)
    errors = sorted([angle_between(found[0], a) + angle_between(found[1], b),
                     angle_between(found[0], b) + angle_between(found[1], a)])
    assert errors[0] < np.radians(1)


def test_two_sources_taking_turns():
    # Time-disjoint sources (alternating 100 ms bursts, like a dialogue): each frame votes for
    # one of them, except the few frames straddling a switch.
    rng = np.random.default_rng(12)
    a, b = (np.radians(30), 0.0), (np.radians(-90), np.radians(30))
    gate = (np.arange(SR) // 2400) % 2 == 0
    x = (plane_wave(rng.standard_normal(SR) * gate, *a)
         + plane_wave(rng.standard_normal(SR) * ~gate, *b))
    found = dominant_directions(x, SR, k=2)
    assert min(angle_between(found[0], a), angle_between(found[1], a)) < np.radians(1)
    assert min(angle_between(found[0], b), angle_between(found[1], b)) < np.radians(1)


def test_frequency_range_selects_sources():
    rng = np.random.default_rng(13)
    a, b = (np.radians(-40), np.radians(5)), (np.radians(130), np.radians(-30))
    x = (plane_wave(band_noise(200, 900, SR, rng), *a)
         + plane_wave(band_noise(2500, 3500, SR, rng), *b))
    assert angle_between(dominant_directions(x, SR, fmax=1000)[0], a) < np.radians(1)
    assert angle_between(dominant_directions(x, SR, fmin=2000)[0], b) < np.radians(1)


def test_silence():
    x = np.zeros((4, SR // 4))
    m = acoustic_map(x, SR)
    assert np.all(m.map == 0)
    assert np.all(np.isnan(dominant_directions(x, SR, k=2)))


def test_single_source_leaves_further_peaks_empty():
    x = plane_wave(RNG.standard_normal(SR // 4), 0.5, 0.1)
    found = dominant_directions(x, SR, k=3)
    assert np.all(np.isfinite(found[0])) and np.all(np.isnan(found[1:]))


def test_smoothing_wraps_in_azimuth_and_crosses_the_poles():
    d = np.zeros((36, 72))
    d[10, 0] = 1.0
    s = _smooth(d, 1.0)
    assert s[10, 71] == pytest.approx(s[10, 1]) and s[10, 71] > 0     # circular in azimuth
    d = np.zeros((36, 72))
    d[0, 5] = 1.0
    s = _smooth(d, 1.0)
    assert s[0, 5 + 36] > 0 and s[0, 5 + 36] == pytest.approx(s[1, 5])  # over the zenith
    assert s.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(_smooth(d, 0.0), d)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_signal_on_threads(threads, monkeypatch):
    monkeypatch.setattr(_k.numba, "get_num_threads", lambda: threads)
    n = _k.PARALLEL_MIN_SAMPLES + 4000
    x = RNG.standard_normal((4, n)).astype(np.float32)
    hist, vec = _votes(x, SR, 72, 36, 512, 240, 50.0, 4000.0)
    ref_hist, ref_vec = ref_votes(stft(x, 24000), 2, 86, 72, 36)
    np.testing.assert_allclose(hist, ref_hist, rtol=1e-9)
    np.testing.assert_allclose(vec, ref_vec, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: acoustic_map(np.ones((3, SR)), SR), "expected 4 channels"),
    (lambda: acoustic_map(np.full((4, SR), np.nan), SR), "non-finite"),
    (lambda: acoustic_map(np.ones((4, 100)), SR), "at least 240 samples"),
    (lambda: acoustic_map(np.ones((4, SR)), -1), "sample rate"),
    (lambda: acoustic_map(np.ones((4, SR)), SR, n_azimuth=0), "n_azimuth"),
    (lambda: acoustic_map(np.ones((4, SR)), SR, n_elevation=2.5), "n_elevation"),
    (lambda: acoustic_map(np.ones((4, SR)), SR, fmin=3000, fmax=1000), "fmin <= fmax"),
    (lambda: acoustic_map(np.ones((4, SR)), SR, fmin=20000), "fmin <= fmax"),
    (lambda: acoustic_map(np.ones((4, SR)), SR, fmin=1000, fmax=1010), "no FFT bin"),
    (lambda: dominant_directions(np.ones((4, SR)), SR, k=0), "k must be"),
    (lambda: dominant_directions(np.ones((4, SR)), SR, min_separation=0), "min_separation"),
    (lambda: dominant_directions(np.ones((4, SR)), SR, min_separation=4), "min_separation"),
    (lambda: dominant_directions(np.ones((4, SR)), SR, smoothing=-1), "smoothing"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(FOAError, match=match):
        call()
