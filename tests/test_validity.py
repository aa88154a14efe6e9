"""Validity test (paper Eq. 13): the low-pass and its numba kernel against numpy, energy ratios of
layouts whose value is derived on paper, the diagnosis, bad inputs, and the real files."""
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings, strategies as st

from spatialfoa import _feature_kernels as _k
from spatialfoa import validity as V
from spatialfoa.encoding import diffuse_field
from spatialfoa.formats import ambix_to_fuma, fuma_to_ambix, n3d_to_sn3d, sn3d_to_n3d
from spatialfoa.validation import FOAError

SR = 24000
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RNG = np.random.default_rng(99)


def plane_wave(s, az, el):
    """ambiX (SN3D) plane wave of paper Eq. 3, written independently of the library."""
    u = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return u[:, None] * s[None, :]


def fir(sr, cutoff):
    """The FIR h back from its polyphase split taps[p, q] = h[q·D + p]."""
    taps, d, numtaps = V._lowpass(sr, cutoff)
    return taps.T.ravel()[:numtaps], d


def ref_energies(x, h, d):
    """Plain numpy: 'valid' correlation with h, every d-th output, energy × d."""
    return np.array([d * np.sum(np.correlate(row.astype(np.float64), h, "valid")[::d] ** 2)
                     for row in x])


# ---- the low-pass ----

@pytest.mark.parametrize("sr, cutoff", [(24000, 4000.0), (48000, 4000.0), (44100, 4000.0),
                                        (16000, 4000.0), (9000, 4000.0), (24000, 500.0)])
def test_lowpass_response(sr, cutoff):
    h, d = fir(sr, cutoff)
    width = min(1500.0, cutoff, 2 * (sr / 2 - cutoff))
    f, resp = scipy.signal.freqz(h, worN=2 ** 15, fs=sr, include_nyquist=True)
    gain = np.abs(resp)
    assert np.allclose(h, h[::-1])                                    # linear phase
    assert np.all(np.abs(gain[f <= cutoff - width / 2] - 1) < 2e-3)   # passband
    assert np.interp(cutoff, f, gain) == pytest.approx(0.5, abs=0.01)  # -6 dB at the cutoff
    stop = cutoff + width / 2
    assert gain[f >= stop].max() < 1.2e-3                             # ~60 dB stopband
    assert stop <= sr / (2 * d) and (d == 1 or stop > sr / (2 * (d + 1)))  # largest such D


@pytest.mark.parametrize("dtype, n", [(np.float32, 5003), (np.float64, 20011), (np.float32, 0)])
@pytest.mark.parametrize("sr", [24000, 44100])
def test_lowpass_energies_kernel(dtype, n, sr):
    taps, d, numtaps = V._lowpass(sr, 4000.0)
    h, _ = fir(sr, 4000.0)
    n = n or numtaps                               # 0: the shortest signal, one output
    x = RNG.standard_normal((4, n)).astype(dtype)
    n_out = (n - numtaps) // d + 1
    ref = ref_energies(x, h, d) / d
    # float32 sums of ~100 products: relative error ~1e-6 of the largest energy.
    tol = dict(rtol=1e-5, atol=1e-5 * ref.max()) if dtype == np.float32 else dict(rtol=1e-12)
    got = _k.lowpass_energies(x, taps.astype(dtype), 0, n_out, 1000)
    np.testing.assert_allclose(got, ref, **tol)
    mid = n_out // 3                               # two ranges add up to the whole
    parts = (_k.lowpass_energies(x, taps.astype(dtype), 0, mid, 1000)
             + _k.lowpass_energies(x, taps.astype(dtype), mid, n_out, 1000))
    np.testing.assert_allclose(parts, ref, **tol)


@pytest.mark.parametrize("sr", [16000, 24000, 44100, 48000])
def test_decimated_energy_equals_full_rate_energy(sr):
    # The filtered signal is band-limited below sr/(2D), so y² has no component at the
    # decimated rate's multiples: D·Σ y[mD]² = Σ y[n]² up to stopband leakage and edges.
    x = RNG.standard_normal((4, sr))
    h, d = fir(sr, 4000.0)
    full = np.array([np.sum(np.correlate(row, h, "valid") ** 2) for row in x])
    np.testing.assert_allclose(V._energies(x, sr, 4000.0), full, rtol=2e-3)


def test_no_cutoff_is_plain_energy():
    x = RNG.standard_normal((4, 1000)) * np.array([[1.0], [0.3], [0.5], [2.0]])
    e = (x ** 2).sum(axis=1)
    assert V.energy_ratio(x, SR, cutoff=None) == pytest.approx(e[1:].sum() / e[0], rel=1e-12)


# ---- ratios derived on paper ----

@settings(deadline=None, max_examples=40)
@given(st.floats(-np.pi, np.pi), st.floats(-np.pi / 2, np.pi / 2), st.integers(0, 2 ** 32 - 1))
def test_plane_wave_ratio_is_one(az, el, seed):
    # Every channel is the same filtered signal times u_c: E_xyz/E_w = |u_xyz|² = 1 exactly.
    x = plane_wave(np.random.default_rng(seed).standard_normal(2400), az, el)
    assert V.energy_ratio(x, SR) == pytest.approx(1.0, abs=1e-9)
    assert V.is_ambix(x, SR)


def diffuse(n=SR, seed=0):
    return diffuse_field(n, rng=seed)


def horizontal_ring(n=SR, n_dir=36, seed=0):
    """Uncorrelated plane waves evenly spaced on the horizon (a 2-D diffuse field)."""
    rng = np.random.default_rng(seed)
    az = 2 * np.pi * np.arange(n_dir) / n_dir
    return sum(plane_wave(rng.standard_normal(n), a, 0.0) for a in az)


def test_diffuse_field_passes():
    # Σ_i E|s_i|²·|u_i|² = Σ_i E|s_i|²: 1 up to the finite grid and the sample's randomness.
    r = V.energy_ratio(diffuse(), SR)
    assert r == pytest.approx(1.0, abs=0.03)
    assert V.is_ambix(diffuse(), SR)
    assert V.diagnose_ratio(r)[0] == "ambix (SN3D)"


def test_fuma_is_two():
    # FuMa W = W/√2 => E_w halves => ratio 2, whatever the dipole order.
    x = diffuse()
    scaled = x * np.array([[1 / np.sqrt(2)], [1], [1], [1]])
    assert V.energy_ratio(scaled, SR) == pytest.approx(2.0, abs=0.06)
    fuma = ambix_to_fuma(x)
    assert V.energy_ratio(fuma, SR) == pytest.approx(2 * V.energy_ratio(x, SR), rel=1e-9)
    assert not V.is_ambix(fuma, SR)
    guess, hint = V.diagnose_ratio(V.energy_ratio(fuma, SR))
    assert guess == "fuma" and "fuma_to_ambix" in hint and "1/√2" in hint
    assert V.is_ambix(fuma_to_ambix(fuma), SR)


def test_n3d_is_three():
    # N3D dipoles = √3 × SN3D => E_xyz triples. Exactly 3 for a plane wave.
    pw = plane_wave(RNG.standard_normal(SR), 0.3, -0.2)
    assert V.energy_ratio(sn3d_to_n3d(pw), SR) == pytest.approx(3.0, rel=1e-9)
    x = sn3d_to_n3d(diffuse())
    assert V.energy_ratio(x, SR) == pytest.approx(3.0, abs=0.09)
    guess, hint = V.diagnose_ratio(V.energy_ratio(x, SR))
    assert guess == "n3d" and "n3d_to_sn3d" in hint
    assert V.is_ambix(n3d_to_sn3d(x), SR)


def test_mono_copied_to_four_channels_is_three():
    # W = X = Y = Z = s => E_xyz = 3·E_w exactly.
    s = RNG.standard_normal(SR)
    assert V.energy_ratio(np.stack([s] * 4), SR) == pytest.approx(3.0, rel=1e-12)
    assert V.diagnose_ratio(3.0)[0] == "n3d"
    assert "copied" in V.diagnose_ratio(3.0)[1]


def test_independent_noises_are_three():
    # Four independent equal-power noises: E_xyz ≈ 3σ², E_w ≈ σ².
    r = V.energy_ratio(RNG.standard_normal((4, 4 * SR)), SR)
    assert r == pytest.approx(3.0, abs=0.1)
    assert not V.is_ambix(RNG.standard_normal((4, SR)), SR)


def test_two_of_four_channels_silent_fails():
    # Diffuse field keeping only W and Y: E_y = E_w·E[u_y²] = E_w/3 on the sphere => 1/3.
    x = diffuse()
    x[2:] = 0.0
    r = V.energy_ratio(x, SR)
    assert r == pytest.approx(1 / 3, abs=0.02)
    assert not V.is_ambix(x, SR)
    assert V.diagnose_ratio(r)[0] == "horizontal-only or partly silent"


def test_three_d_scene_without_z_is_two_thirds():
    # E[u_x² + u_y²] over the sphere = 2/3 (each axis carries 1/3).
    x = diffuse()
    x[2] = 0.0
    r = V.energy_ratio(x, SR)
    assert r == pytest.approx(2 / 3, abs=0.03)
    assert V.diagnose_ratio(r)[0] == "horizontal-only or partly silent"


def test_horizontal_diffuse_field_passes():
    # Sources on the horizon: Z ≡ 0 but sin²θ + cos²θ = 1 per source => ratio 1 (valid ambiX).
    x = horizontal_ring()
    assert np.all(x[2] == 0)
    assert V.energy_ratio(x, SR) == pytest.approx(1.0, abs=0.03)


def test_mono_in_w_only_is_zero():
    x = np.zeros((4, SR))
    x[0] = RNG.standard_normal(SR)
    assert V.energy_ratio(x, SR) == 0.0
    assert V.diagnose_ratio(0.0)[0] == "dipoles silent (mono in W)"


def test_nearly_silent_w():
    x = diffuse()
    x[0] *= 0.01                                   # ratio ≈ 1 / 0.01² = 1e4
    r = V.energy_ratio(x, SR)
    assert r == pytest.approx(1e4, rel=0.05)
    assert V.diagnose_ratio(r)[0] == "W silent or not ambisonic"


def test_lowpass_ignores_spatial_aliasing():
    # A plane wave below the cutoff plus independent noise in the dipoles only above 6 kHz
    # (the 4.75 kHz stopband edge removes it): ratio 1 with the low-pass, far above without.
    x = plane_wave(RNG.standard_normal(2 * SR), 1.0, 0.2)
    sos = scipy.signal.butter(8, 4000, fs=SR, output="sos")
    x = scipy.signal.sosfilt(sos, x, axis=1)
    hf = scipy.signal.sosfilt(scipy.signal.butter(8, 6000, "highpass", fs=SR, output="sos"),
                              RNG.standard_normal((3, 2 * SR)), axis=1)
    x[1:] += hf
    assert V.energy_ratio(x, SR) == pytest.approx(1.0, abs=0.01)
    assert V.energy_ratio(x, SR, cutoff=None) > 2


def test_float32_equals_float64():
    x = diffuse()
    assert V.energy_ratio(x.astype(np.float32), SR) == pytest.approx(V.energy_ratio(x, SR),
                                                                     rel=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_signal_on_threads(threads, monkeypatch):
    monkeypatch.setattr(_k.numba, "get_num_threads", lambda: threads)
    n = _k.PARALLEL_MIN_SAMPLES + 12345
    x = RNG.standard_normal((4, n)).astype(np.float32)
    taps, d, numtaps = V._lowpass(SR, 4000.0)
    h, _ = fir(SR, 4000.0)
    e = ref_energies(x, h, d)
    assert V.energy_ratio(x, SR) == pytest.approx(e[1:].sum() / e[0], rel=1e-5)


# ---- diagnosis ----

@pytest.mark.parametrize("ratio, guess", [
    (0.0, "dipoles silent (mono in W)"), (0.05, "dipoles silent (mono in W)"),
    (1 / 3, "horizontal-only or partly silent"), (2 / 3, "horizontal-only or partly silent"),
    (0.96, "ambix (SN3D)"), (1.0, "ambix (SN3D)"), (1.3, "ambix (SN3D)"),
    (2.03, "fuma"), (1.7, "fuma"), (3.03, "n3d"), (2.6, "n3d"),
    (5.0, "W silent or not ambisonic"), (np.inf, "W silent or not ambisonic")])
def test_diagnose_ratio(ratio, guess):
    got, hint = V.diagnose_ratio(ratio)
    assert got == guess
    assert isinstance(hint, str) and len(hint) > 20


# ---- bad input ----

@pytest.mark.parametrize("call, match", [
    (lambda: V.energy_ratio(np.ones((2, SR)), SR), "expected 4 channels"),
    (lambda: V.energy_ratio(np.ones((SR, 4)), SR), "transposed"),
    (lambda: V.energy_ratio(np.full((4, SR), np.nan), SR), "non-finite"),
    (lambda: V.energy_ratio(np.vstack([np.zeros(SR), np.ones((3, SR))]), SR),
     "W channel is silent"),
    (lambda: V.energy_ratio(np.ones((4, 50)), SR), "too short"),
    (lambda: V.energy_ratio(np.ones((4, SR)), 0), "sample rate"),
    (lambda: V.energy_ratio(np.ones((4, SR)), 22050.5), "sample rate"),
    (lambda: V.energy_ratio(np.ones((4, SR)), SR, cutoff=12000), "cutoff"),
    (lambda: V.energy_ratio(np.ones((4, SR)), SR, cutoff=-5), "cutoff"),
    (lambda: V.energy_ratio(np.ones((4, SR)), SR, cutoff="low"), "cutoff"),
    (lambda: V.is_ambix(np.ones((4, SR)), SR, tau=0), "tau"),
    (lambda: V.is_ambix(np.ones((4, SR)), SR, tau=np.nan), "tau"),
    (lambda: V.diagnose_ratio(np.nan), "ratio"),
    (lambda: V.diagnose_ratio(-1.0), "ratio"),
    (lambda: V.diagnose_ratio("high"), "ratio"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(FOAError, match=match):
        call()


# ---- real files (../shared/data) ----

def read(name):
    sf = pytest.importorskip("soundfile")
    x, sr = sf.read(DATA / "foa" / name, always_2d=True)
    return x.T, sr


@pytest.mark.realdata
@pytest.mark.skipif(not DATA.exists(), reason="real data folder ../shared/data is absent")
def test_real_files():
    x, sr = read("eigenmike_hall_recording_foa_ambix.wav")
    assert V.energy_ratio(x, sr) == pytest.approx(0.96, abs=0.02)
    assert V.is_ambix(x, sr)
    x, sr = read("gewandhaus_rir_acn_n3d.wav")
    assert V.energy_ratio(x, sr) == pytest.approx(3.03, abs=0.03)
    assert V.diagnose_ratio(V.energy_ratio(x, sr))[0] == "n3d"
    assert V.energy_ratio(n3d_to_sn3d(x), sr) == pytest.approx(1.01, abs=0.02)
    x, sr = read("room_rir_fuma_wxyz.wav")
    assert V.energy_ratio(x, sr) == pytest.approx(2.03, abs=0.03)
    assert V.diagnose_ratio(V.energy_ratio(x, sr))[0] == "fuma"
    assert V.energy_ratio(fuma_to_ambix(x), sr) == pytest.approx(1.01, abs=0.02)
