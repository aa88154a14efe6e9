"""Features: framing and log-mel against librosa, FOA-IV and ICF against signals whose answer is
known on paper, the numba kernels against plain numpy, and input validation."""
import librosa
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spatialfoa import _feature_kernels as _k
from spatialfoa import features as F
from spatialfoa.encoding import diffuse_field
from spatialfoa.validation import FOAError

SR = 24000
SETTINGS = settings(deadline=None, max_examples=25)
RNG = np.random.default_rng(1234)


def plane_wave(s, az, el):
    """ambiX (SN3D) plane wave of paper Eq. 3, written independently of the library."""
    u = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return u[:, None] * s[None, :]


def unit(az, el):
    """Cartesian (x front, y left, z up) unit vector toward (az, el)."""
    return np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def librosa_spec(x, n_fft=512, hop=240, pad_mode="constant"):
    """librosa's centred STFT cut to samples // hop frames, as (channels, frames, bins)."""
    s = librosa.stft(np.asarray(x, np.float64), n_fft=n_fft, hop_length=hop, center=True,
                     pad_mode=pad_mode)
    return np.moveaxis(s[..., :x.shape[-1] // hop], -1, -2)


def librosa_mel(sr=SR, n_fft=512, n_mels=128, fmin=0.0, fmax=None):
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               dtype=np.float64)


# ---- plain-numpy references of the kernels (dense mel matrix, no band tricks) ----

def ref_mel_powers(spec, mel, eps):
    return np.abs(spec.astype(np.complex128)) ** 2 @ mel.T + eps


def ref_foa_bands(spec, mel, eps):
    s = spec.astype(np.complex128)
    power = ref_mel_powers(s, mel, 0.0)                          # (4, F, M)
    den = power.sum(axis=0)
    num = 2 * np.real(np.conj(s[0])[None] * s[[3, 1, 2]]) @ mel.T  # x, y, z
    iv = np.where(den > eps, num / np.where(den > eps, den, 1.0), 0.0)
    return np.concatenate([power + eps, iv])


def ref_foa_bins(spec, mel, eps):
    """Per-bin normalised intensity (Cao et al.), then mel weights normalised to sum 1."""
    s = spec.astype(np.complex128)
    den_bin = (np.abs(s) ** 2).sum(axis=0)
    num = 2 * np.real(np.conj(s[0])[None] * s[[3, 1, 2]])
    per_bin = np.where(den_bin > eps, num / np.where(den_bin > eps, den_bin, 1.0), 0.0)
    band_power = ref_mel_powers(s, mel, 0.0).sum(axis=0)
    iv = per_bin @ (mel / mel.sum(axis=1, keepdims=True)).T
    return np.where(band_power > eps, iv, 0.0)


def ref_stereo_bands(spec, mel, eps):
    s = spec.astype(np.complex128)
    power = ref_mel_powers(s, mel, 0.0)
    cross = (s[0] * np.conj(s[1])) @ mel.T
    mag = np.abs(cross)
    ok = mag > eps
    cos = np.where(ok, cross.real / np.where(ok, mag, 1.0), 1.0)
    sin = np.where(ok, cross.imag / np.where(ok, mag, 1.0), 0.0)
    return power + eps, cos, sin


def random_spec(channels, frames=37, bins=257, dtype=np.complex64, rng=RNG):
    s = rng.standard_normal((channels, frames, bins)) + 1j * rng.standard_normal(
        (channels, frames, bins))
    s[:, 3] = 0.0                                                # one silent frame
    return (s * rng.uniform(0.1, 3, (channels, 1, 1))).astype(dtype)


# ---- framing, STFT, mel ----

@pytest.mark.parametrize("n, sr, hop, frames", [(24000, 24000, 240, 100), (24239, 24000, 240, 100),
                                                 (240, 24000, 240, 1), (48000, 48000, 480, 100)])
def test_frame_count(n, sr, hop, frames):
    x = RNG.standard_normal((4, n))
    n_fft = 2 * hop if sr != SR else 512
    assert F.stft(x, sr, n_fft=n_fft, hop_length=hop).shape == (4, frames, n_fft // 2 + 1)
    assert F.logmel(x, sr, n_fft=n_fft, hop_length=hop).shape == (4, frames, 128)
    assert F.foa_iv(x, sr, n_fft=n_fft, hop_length=hop).shape == (7, frames, 128)
    assert F.icf(x[:2], sr, n_fft=n_fft, hop_length=hop).shape == (5, frames, 128)


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stft_matches_librosa(pad_mode, dtype):
    x = RNG.standard_normal((3, 5000)).astype(dtype)
    s = F.stft(x, SR, pad_mode=pad_mode)
    assert s.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    ref = librosa_spec(x, pad_mode=pad_mode)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(s, ref, atol=tol * np.abs(ref).max())


def test_stft_other_window_and_odd_sizes():
    x = RNG.standard_normal((1, 3001))
    s = F.stft(x, SR, n_fft=401, hop_length=100, window="hamming")
    ref = librosa.stft(x[0], n_fft=401, hop_length=100, window="hamming", center=True)
    np.testing.assert_allclose(s[0], ref[:, :30].T, atol=1e-10 * np.abs(ref).max())
    win = np.hanning(400)                                 # symmetric: differs from "hann"
    ref = librosa.stft(x[0], n_fft=400, hop_length=100, window=win, center=True)
    np.testing.assert_allclose(F.stft(x, SR, n_fft=400, hop_length=100, window=win)[0], ref[:, :30].T,
                               atol=1e-10 * np.abs(ref).max())


def test_mel_filterbank_is_librosa_and_cached():
    mel = F.mel_filterbank(SR)
    np.testing.assert_allclose(mel, librosa_mel(), rtol=1e-12)
    assert F.mel_filterbank(SR) is mel and not mel.flags.writeable
    other = F.mel_filterbank(16000, n_fft=400, n_mels=40, fmin=50, fmax=7000)
    np.testing.assert_allclose(other, librosa_mel(16000, 400, 40, 50, 7000), rtol=1e-12)


@pytest.mark.parametrize("args", [(SR, 512, 128, 0.0, SR / 2), (16000, 400, 40, 50.0, 7000.0),
                                  (8000, 256, 96, 0.0, 4000.0)])
def test_compressed_mel_bands_rebuild_the_matrix(args):
    weights, ptr, lo = F._mel_bands(*args)
    mel = F._mel_matrix(*args)
    dense = np.zeros_like(mel)
    for m in range(mel.shape[0]):
        dense[m, lo[m]:lo[m] + ptr[m + 1] - ptr[m]] = weights[ptr[m]:ptr[m + 1]]
    np.testing.assert_array_equal(dense, mel)


# ---- log-mel ----

@pytest.mark.parametrize("sr, n_fft, hop, n_mels, fmin, fmax", [
    (SR, 512, 240, 128, 0.0, None), (16000, 400, 160, 64, 50.0, 7000.0)])
def test_logmel_matches_librosa(sr, n_fft, hop, n_mels, fmin, fmax):
    x = RNG.standard_normal((2, 3 * sr + 17)) * np.array([[1.0], [0.01]])
    got = F.logmel(x, sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert got.dtype == np.float32
    mel = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft, hop_length=hop,
                                         n_mels=n_mels, fmin=fmin, fmax=fmax, center=True)
    ref = 10 * np.log10(mel[..., :x.shape[1] // hop] + F.LOG_EPS)
    np.testing.assert_allclose(got, np.swapaxes(ref, 1, 2), atol=2e-3)


def test_logmel_floor_for_silence():
    out = F.logmel(np.zeros((1, SR)), SR)
    np.testing.assert_allclose(out, 10 * np.log10(F.LOG_EPS))


def test_logmel_of_scaled_signal_shifts_by_20log10():
    x = RNG.standard_normal((1, SR))
    np.testing.assert_allclose(F.logmel(4 * x, SR) - F.logmel(x, SR), 20 * np.log10(4),
                               atol=1e-3)


# ---- intensity vector (Eq. 7) ----

@SETTINGS
@given(st.floats(-np.pi, np.pi), st.floats(-np.pi / 2, np.pi / 2), st.integers(0, 2 ** 32 - 1))
def test_plane_wave_intensity_points_at_source(az, el, seed):
    # W = s, [X, Y, Z] = s·u  =>  2Re(W*·s·u) / (|s|² + |s|²·|u|²) = u exactly, in every band.
    s = np.random.default_rng(seed).standard_normal(SR // 4)
    out = F.foa_iv(plane_wave(s, az, el), SR)
    iv = out[4:]
    loud = out[0] > out[0].max() - 60                  # bands with energy (W within 60 dB)
    assert loud.mean() > 0.9
    np.testing.assert_allclose(np.moveaxis(iv, 0, -1)[loud], np.broadcast_to(
        unit(az, el), (loud.sum(), 3)), atol=1e-3)


def test_intensity_vector_is_the_iv_part_of_foa_iv():
    x = RNG.standard_normal((4, SR // 2))
    full = F.foa_iv(x, SR)
    np.testing.assert_array_equal(F.intensity_vector(x, SR), full[4:])
    np.testing.assert_array_equal(F.logmel(x, SR), full[:4])


def test_intensity_matches_librosa_reference():
    x = (RNG.standard_normal((4, SR)) * np.array([[1.0], [0.5], [0.2], [0.7]])
         + 0.8 * RNG.standard_normal((1, SR)))
    spec = librosa_spec(x)
    mel = librosa_mel()
    num = 2 * np.real(np.conj(spec[0])[None] * spec[[3, 1, 2]]) @ mel.T
    den = (np.abs(spec) ** 2 @ mel.T).sum(axis=0)
    np.testing.assert_allclose(F.intensity_vector(x, SR), num / den, atol=2e-5)


@SETTINGS
@given(st.lists(st.floats(0.0, 3.0), min_size=4, max_size=4), st.integers(0, 2 ** 32 - 1))
def test_intensity_norm_at_most_one(gains, seed):
    # Per bin |2Re(W*·D)| <= 2|W||D| <= |W|² + |D|² (Cauchy-Schwarz, AM-GM); sums keep it.
    rng = np.random.default_rng(seed)
    x = np.array(gains)[:, None] * rng.standard_normal((4, SR // 10)) + rng.standard_normal(SR // 10)
    iv = F.intensity_vector(x, SR)
    assert np.linalg.norm(iv, axis=0).max() <= 1 + 1e-5


def test_two_uncorrelated_sources_give_half_sum():
    # Sources a (u1) and b (u2), independent, equal power: E[2Re(W*·D)] = 2(E|a|²u1 + E|b|²u2),
    # E[den] = 2(E|a|² + E|b|²), so I -> (u1 + u2)/2: norm 1/√2 along the bisector when
    # u1 ⟂ u2. Per band the ratio is taken over a finite sum whose cross term Re(a*·b) only
    # averages out when the band holds many bins, hence long frames and wide bands here.
    rng = np.random.default_rng(7)
    az1, az2, el = np.radians(20), np.radians(110), np.radians(10)
    x = plane_wave(rng.standard_normal(10 * SR), az1, el) + plane_wave(
        rng.standard_normal(10 * SR), az2, el)
    iv = F.intensity_vector(x, SR, n_fft=8192, hop_length=2400, n_mels=32)
    expected = (unit(az1, el) + unit(az2, el)) / 2
    assert unit(az1, el) @ unit(az2, el) == pytest.approx(np.sin(el) ** 2)
    bands = np.moveaxis(iv.mean(axis=1), 0, -1)[1:]               # (bands, 3), frame-mean
    np.testing.assert_allclose(bands, np.broadcast_to(expected, bands.shape), atol=0.04)
    np.testing.assert_allclose(bands.mean(axis=0), expected, atol=0.01)
    # Same direction in each frame and band, shorter than a single source's unit vector.
    norms = np.linalg.norm(iv[:, 1:-1, 1:], axis=0)
    assert np.all(norms < 0.85)
    cosines = np.einsum("ctm,c->tm", iv[:, 1:-1, 1:], expected) / norms / np.linalg.norm(
        expected)
    assert np.median(cosines) > 0.99


def test_diffuse_field_intensity_is_small():
    # Uncorrelated plane waves from a uniform sphere grid: E[W*·D] = Σ_i E|s_i|²·u_i = 0, so
    # the frame-mean vanishes in every band; a single frame and band only gets close to 0
    # when the band sums many bins (long frames, wide bands), as for two sources above.
    x = diffuse_field(10 * SR, rng=3)
    iv = F.intensity_vector(x, SR)
    assert np.linalg.norm(iv.mean(axis=1), axis=0).max() < 0.06      # per band, frame-mean
    wide = F.intensity_vector(x, SR, n_fft=8192, hop_length=2400, n_mels=32)
    assert np.median(np.linalg.norm(wide[:, 1:-1, 1:], axis=0)) < 0.12  # vs 1 for one source


def test_silent_input_gives_zero_intensity():
    out = F.foa_iv(np.zeros((4, SR)), SR)
    np.testing.assert_array_equal(out[4:], 0.0)
    np.testing.assert_allclose(out[:4], -100.0)


# ---- ILD / IPD (Eq. 10-12) ----

@SETTINGS
@given(st.floats(0.05, 4.0), st.floats(0.05, 4.0), st.integers(0, 2 ** 32 - 1))
def test_ild_of_a_pan(g_left, g_right, seed):
    # E_L / E_R = gL² / gR² in every band => ILD = 10·log10(gL²/gR²) = 20·log10(gL/gR); the
    # cross-spectrum gL·gR·|S|² is real and positive => IPD (1, 0).
    s = np.random.default_rng(seed).standard_normal(SR // 4)
    out = F.ild_ipd(np.stack([g_left * s, g_right * s]), SR)
    np.testing.assert_allclose(out[0], 20 * np.log10(g_left / g_right), atol=1e-3)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[2], 0.0, atol=1e-3)


def test_opposite_polarity_gives_ipd_pi():
    s = RNG.standard_normal(SR // 4)
    out = F.ild_ipd(np.stack([s, -0.5 * s]), SR)
    np.testing.assert_allclose(out[1], -1.0, atol=1e-6)
    np.testing.assert_allclose(out[0], 20 * np.log10(2), atol=1e-3)


def test_identical_channels():
    s = RNG.standard_normal(SR // 2)
    out = F.ild_ipd(np.stack([s, s]), SR)
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[2], 0.0, atol=1e-6)


@SETTINGS
@given(st.integers(3, 250), st.integers(1, 40), st.floats(0, 2 * np.pi))
def test_ipd_of_a_delay(k0, d, phase):
    # A sinusoid on bin k0 (f0 = k0·sr/n_fft) under a periodic Hann window only reaches bins
    # k0-1..k0+1, each multiplied by the same exp(-2πi·f0·d/sr) when L is the signal delayed by
    # d samples: angle(Σ mel·L·R*) = -2π·f0·d/sr (wrapped) in every band that holds energy.
    n = SR // 4
    f0 = k0 * SR / 512
    t = np.arange(n + d)
    s = np.cos(2 * np.pi * f0 * t / SR + phase)
    left, right = s[:n], s[d:]                     # left[n] = right[n - d]
    out = F.ild_ipd(np.stack([left, right]), SR)
    power = F.logmel(right[None], SR)[0]
    loud = power > power.max() - 60
    loud[:3] = loud[-3:] = False                   # edge frames see the zero padding
    expected = -2 * np.pi * f0 * d / SR
    np.testing.assert_allclose(out[1][loud], np.cos(expected), atol=1e-4)
    np.testing.assert_allclose(out[2][loud], np.sin(expected), atol=1e-4)


def test_icf_stacks_logmel_and_ild_ipd():
    x = RNG.standard_normal((2, SR // 2)) * np.array([[1.0], [0.3]])
    full = F.icf(x, SR)
    np.testing.assert_array_equal(F.logmel(x, SR), full[:2])
    np.testing.assert_array_equal(F.ild_ipd(x, SR), full[2:])
    np.testing.assert_allclose(full[2], full[0] - full[1], atol=1e-5)


def test_ipd_matches_numpy_reference():
    x = RNG.standard_normal((2, SR // 2))
    x[1] = 0.6 * x[1] + 0.8 * np.roll(x[0], 3)
    spec = librosa_spec(x)
    cross = (spec[0] * np.conj(spec[1])) @ librosa_mel().T
    ang = np.angle(cross)
    out = F.ild_ipd(x, SR)
    np.testing.assert_allclose(out[1], np.cos(ang), atol=1e-4)
    np.testing.assert_allclose(out[2], np.sin(ang), atol=1e-4)


def test_feature_channels():
    x = RNG.standard_normal((4, SR // 4))
    assert F.logmel(x, SR).shape[0] == F.FEATURE_CHANNELS["logmel-ambi"]
    assert F.foa_iv(x, SR).shape[0] == F.FEATURE_CHANNELS["foa-iv"]
    assert F.logmel(x[:2], SR).shape[0] == F.FEATURE_CHANNELS["logmel-stereo"]
    assert F.icf(x[:2], SR).shape[0] == F.FEATURE_CHANNELS["icf"]
    assert F.logmel(x[:1], SR).shape[0] == F.FEATURE_CHANNELS["logmel-mono"]
    for f in (F.logmel(x, SR), F.foa_iv(x, SR), F.icf(x[:2], SR)):
        assert f.dtype == np.float32 and f.flags.c_contiguous


# ---- numba kernels == plain numpy ----

@pytest.mark.parametrize("channels", [1, 3, 4, 5])
def test_mel_powers_kernel(channels):
    spec = random_spec(channels)
    mel = F.mel_filterbank(SR)
    out = np.empty((channels, spec.shape[1], 128), np.float32)
    _k.mel_powers(spec, *F._mel_bands(SR, 512, 128, 0.0, SR / 2), 1e-10, out)
    np.testing.assert_allclose(out, ref_mel_powers(spec, mel, 1e-10), rtol=1e-6)


def test_foa_bands_kernel():
    spec = random_spec(4)
    spec[:, 5, :100] = 0.0                      # silent low bands in one frame
    mel = F.mel_filterbank(SR)
    out = np.empty((7, spec.shape[1], 128), np.float32)
    _k.foa_bands(spec, *F._mel_bands(SR, 512, 128, 0.0, SR / 2), 1e-10, out, False)
    ref = ref_foa_bands(spec, mel, 1e-10)
    np.testing.assert_allclose(out[:4], ref[:4], rtol=1e-6)
    np.testing.assert_allclose(out[4:], ref[4:], atol=1e-6)
    assert np.all(out[4:, 3] == 0) and np.all(out[4:, 5, :20] == 0)
    per_bin = np.empty_like(out)
    _k.foa_bands(spec, *F._mel_bands(SR, 512, 128, 0.0, SR / 2), 1e-10, per_bin, True)
    np.testing.assert_array_equal(per_bin[:4], out[:4])
    np.testing.assert_allclose(per_bin[4:], ref_foa_bins(spec, mel, 1e-10), atol=1e-6)
    assert np.all(per_bin[4:, 3] == 0) and np.all(per_bin[4:, 5, :20] == 0)
    assert np.abs(per_bin[4:] - out[4:]).max() > 1e-2        # the two aggregations differ


@pytest.mark.parametrize("aggregation", ["band", "bin"])
def test_plane_wave_gives_a_unit_vector_with_both_aggregations(aggregation):
    # Every bin of a plane wave has I_k = u, so both the band ratio and the weighted mean of
    # per-bin vectors are u in every band with energy; mixed with a weaker second source the
    # vectors stay within the unit ball.
    rng = np.random.default_rng(21)
    az, el = 2.2, -0.4
    s = rng.standard_normal(SR // 2)
    iv = F.intensity_vector(plane_wave(s, az, el), SR, aggregation=aggregation)
    np.testing.assert_allclose(np.moveaxis(iv[:, :, 1:], 0, -1), np.broadcast_to(
        unit(az, el), (iv.shape[1], 127, 3)), atol=1e-4)
    two = plane_wave(s, az, el) + plane_wave(0.5 * rng.standard_normal(SR // 2), -1.0, 0.5)
    norm = np.linalg.norm(F.intensity_vector(two, SR, aggregation=aggregation), axis=0)
    assert norm.max() <= 1 + 1e-5 and norm.mean() < 0.99


def test_stereo_bands_kernel():
    spec = random_spec(2)
    mel = F.mel_filterbank(SR)
    out = np.full((5, spec.shape[1], 128), 7.0, np.float32)
    _k.stereo_bands(spec, *F._mel_bands(SR, 512, 128, 0.0, SR / 2), 1e-10, out)
    power, cos, sin = ref_stereo_bands(spec, mel, 1e-10)
    np.testing.assert_allclose(out[:2], power, rtol=1e-6)
    np.testing.assert_array_equal(out[2], 7.0)                     # left for the caller
    np.testing.assert_allclose(out[3], cos, atol=1e-6)
    np.testing.assert_allclose(out[4], sin, atol=1e-6)
    assert np.all(out[3, 3] == 1) and np.all(out[4, 3] == 0)


@pytest.mark.parametrize("t0, frames", [(0, 30), (5, 12), (95, 6)])
def test_windowed_frames_kernel(t0, frames):
    x = RNG.standard_normal((2, 24000)).astype(np.float32)
    win = np.hanning(512).astype(np.float32)
    out = np.empty((2, frames, 512), np.float32)
    _k.windowed_frames(x, win, 240, 256, t0, out)
    padded = np.pad(x, ((0, 0), (256, 10000)))
    ref = np.stack([[padded[c, t * 240:t * 240 + 512] * win for t in range(t0, t0 + frames)]
                    for c in range(2)])
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("threads", [1, 2])
def test_long_signal_in_blocks_on_threads(threads, monkeypatch):
    # Blocks of frames (on a thread pool for long signals) must join seamlessly: compare with
    # the librosa/numpy reference computed in one piece.
    monkeypatch.setattr(_k.numba, "get_num_threads", lambda: threads)
    n = _k.PARALLEL_MIN_SAMPLES + 1000
    x = RNG.standard_normal((4, n)).astype(np.float32)
    full = F.foa_iv(x, SR)
    assert full.shape == (7, n // 240, 128)
    spec = librosa_spec(x)
    ref = ref_foa_bands(spec, librosa_mel(), F.LOG_EPS)
    np.testing.assert_allclose(full[:4], 10 * np.log10(ref[:4]), atol=2e-3)
    np.testing.assert_allclose(full[4:], ref[4:], atol=1e-4)
    out = F.icf(x[:2], SR)
    np.testing.assert_allclose(out[:2], full[:2], atol=1e-6)


def test_run_blocks_keeps_order(monkeypatch):
    monkeypatch.setattr(_k.numba, "get_num_threads", lambda: 3)
    starts = range(0, 1000, 7)
    assert _k.run_blocks(lambda s: s * 2, starts, _k.PARALLEL_MIN_SAMPLES) == [2 * s for s in
                                                                                 starts]
    assert _k.run_blocks(lambda s: s * 2, starts, 10) == [2 * s for s in starts]


# ---- units: defaults follow the sample rate; integer PCM ----

@pytest.mark.parametrize("sr, n_fft, hop", [(24000, 512, 240), (48000, 1024, 480),
                                             (44100, 1024, 441), (16000, 512, 160),
                                             (8000, 256, 80)])
def test_default_frames_are_21_ms_and_10_ms(sr, n_fft, hop):
    # the window is the next power of two >= 21 ms, the hop 10 ms: 100 frames per second
    assert F.frame_lengths(sr) == (n_fft, hop)
    assert n_fft >= 0.021 * sr > n_fft / 2 and hop == round(0.01 * sr)
    x = RNG.standard_normal((1, sr))
    assert F.logmel(x, sr).shape == (1, 100, 128)
    assert F.stft(x, sr).shape == (1, 100, n_fft // 2 + 1)
    assert F.mel_filterbank(sr).shape == (128, n_fft // 2 + 1)
    assert F.frame_lengths(sr, n_fft=300, hop_length=7) == (300, 7)          # explicit sample counts kept


def test_24khz_defaults_are_the_paper_settings():
    x = RNG.standard_normal((4, SR))
    np.testing.assert_array_equal(F.foa_iv(x, SR), F.foa_iv(x, SR, n_fft=512, hop_length=240))


def test_48khz_features_of_a_band_limited_signal_equal_the_24khz_ones():
    # The same sound at twice the rate: same frames per second and (with fmax = 12 kHz) the
    # same mel bands on the same bin frequencies (46.875 Hz apart). The unnormalised STFT
    # sums twice as many samples, so powers are 4x (+20·log10 2 dB); intensity is unchanged.
    import librosa
    import scipy.signal

    rng = np.random.default_rng(8)
    sos = scipy.signal.butter(8, 9000, fs=SR, output="sos")
    s = scipy.signal.sosfiltfilt(sos, rng.standard_normal((4, 2 * SR)))
    x24 = plane_wave(s[0], 0.8, 0.3) + 0.3 * s                  # a source + diffuse-ish noise
    x48 = scipy.signal.resample_poly(x24, 2, 1, axis=1)
    a, b = F.foa_iv(x24, SR), F.foa_iv(x48, 2 * SR, fmax=SR / 2)
    assert a.shape == b.shape == (7, 200, 128)
    centres = librosa.mel_frequencies(130, fmax=SR / 2)[1:-1]
    band = centres < 8000                                       # where the signal has energy
    inner = slice(2, -2)                                        # edge frames see the padding
    np.testing.assert_allclose(b[:4, inner][..., band] - 20 * np.log10(2),
                               a[:4, inner][..., band], atol=0.1)
    np.testing.assert_allclose(b[4:, inner][..., band], a[4:, inner][..., band], atol=2e-3)


@pytest.mark.parametrize("dtype, full_scale", [(np.int16, 2 ** 15), (np.int32, 2 ** 31)])
def test_integer_pcm_is_scaled_like_soundfile(tmp_path, dtype, full_scale):
    import soundfile as sf

    x = np.round(RNG.uniform(-0.5, 0.5, (4, SR)) * full_scale).astype(dtype)
    path = tmp_path / "pcm.wav"
    sf.write(str(path), x.T, SR, subtype="PCM_16" if dtype == np.int16 else "PCM_32")
    as_read = sf.read(str(path), dtype="float64")[0].T              # soundfile's own scaling
    np.testing.assert_array_equal(as_read, x / full_scale)
    np.testing.assert_array_equal(F.logmel(x, SR), F.logmel(as_read, SR))
    np.testing.assert_array_equal(F.foa_iv(x, SR), F.foa_iv(as_read.astype(np.float32), SR))


# ---- features from a precomputed STFT (S=) ----

def test_features_from_stft_equal_the_time_domain_path():
    x = RNG.standard_normal((4, SR)).astype(np.float32)
    S = F.stft(x, SR)
    np.testing.assert_array_equal(F.logmel(S=S, sr=SR), F.logmel(x, SR))
    np.testing.assert_array_equal(F.foa_iv(S=S, sr=SR), F.foa_iv(x, SR))
    np.testing.assert_array_equal(F.intensity_vector(S=S, sr=SR), F.intensity_vector(x, SR))
    np.testing.assert_array_equal(F.icf(S=S[:2], sr=SR), F.icf(x[:2], SR))
    np.testing.assert_array_equal(F.ild_ipd(S=S[:2], sr=SR), F.ild_ipd(x[:2], SR))
    other = F.stft(x, SR, n_fft=1024, hop_length=480, window="hamming")
    np.testing.assert_array_equal(F.logmel(S=other, sr=SR),
                                  F.logmel(x, SR, n_fft=1024, hop_length=480, window="hamming"))


def test_rotation_and_beams_in_the_stft_domain():
    # STFT(Q·x) = Q·STFT(x): rotating or beamforming S gives the features of the rotated or
    # beamformed signal (float32 rounding apart).
    from spatialfoa.beamforming import beam_weights, beamform
    from spatialfoa.rotation import align, rotation_matrix

    x = diffuse_field(SR, rng=np.random.default_rng(5), dtype=np.float32)
    x[:, :] += plane_wave(RNG.standard_normal(SR), 1.0, 0.3).astype(np.float32)
    S = F.stft(x, SR)
    q = rotation_matrix(0.7, -0.2, 0.4)
    np.testing.assert_allclose(F.mix_stft(q, S), np.einsum("ij,jtk->itk", q, S.astype(complex)),
                               rtol=1e-6, atol=1e-4)
    from spatialfoa.rotation import align_matrix, rotate
    for m, y in ((q, rotate(x, 0.7, -0.2, 0.4)), (align_matrix(1.0, 0.3), align(x, 1.0, 0.3))):
        got = F.foa_iv(S=F.mix_stft(m, S), sr=SR)
        ref = F.foa_iv(y, SR)
        np.testing.assert_allclose(got[:4], ref[:4], atol=2e-3)
        np.testing.assert_allclose(got[4:], ref[4:], atol=1e-4)
    w = beam_weights(np.array([np.pi / 2, -np.pi / 2]), np.zeros(2), "hypercardioid")
    got = F.icf(S=F.mix_stft(w, S), sr=SR)
    ref = F.icf(beamform(x, np.array([np.pi / 2, -np.pi / 2]), np.zeros(2)), SR)
    np.testing.assert_allclose(got[:3], ref[:3], atol=2e-3)
    np.testing.assert_allclose(got[3:], ref[3:], atol=2e-3)
    assert F.mix_stft(w[0], S).shape == (1,) + S.shape[1:]


# ---- input validation ----

@pytest.mark.parametrize("call, match", [
    (lambda: F.foa_iv(np.zeros((3, SR)), SR), "expected 4 channels"),
    (lambda: F.icf(np.zeros((4, SR)), SR), "expected 2 channels"),
    (lambda: F.foa_iv(np.zeros((SR, 4)), SR), "transposed"),
    (lambda: F.logmel(np.zeros(SR), SR), "2-D"),
    (lambda: F.logmel(np.full((1, SR), np.nan), SR), "non-finite"),
    (lambda: F.logmel(np.zeros((1, 100)), SR), "at least 240 samples"),
    (lambda: F.logmel(np.zeros((1, SR)), 0), "sample rate"),
    (lambda: F.logmel(np.zeros((1, SR)), 24000.5), "sample rate"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, n_fft=0), "n_fft"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, hop_length=2.5), "hop_length"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, n_mels=0), "n_mels"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, fmin=5000, fmax=4000), "fmin < fmax"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, fmax=20000), "sr/2"),
    (lambda: F.stft(np.zeros((1, SR)), SR, window=np.ones(10)), "length n_fft"),
    (lambda: F.stft(np.zeros((1, SR)), SR, window="nonsense"), "window"),
    (lambda: F.stft(np.zeros((1, SR)), SR, pad_mode="wrap"), "pad_mode"),
    (lambda: F.stft(np.zeros((1, 250)), SR, pad_mode="reflect"), "reflect"),
    (lambda: F.mel_filterbank(SR, n_mels=-3), "n_mels"),
    (lambda: F.foa_iv(np.zeros((4, SR)), SR, aggregation="mean"), "aggregation"),
    (lambda: F.logmel(np.zeros((1, SR))), "sample rate"),
    (lambda: F.logmel(sr=SR), "neither"),
    (lambda: F.logmel(np.zeros((1, SR)), SR, S=np.zeros((1, 5, 257), np.complex64)), "both"),
    (lambda: F.logmel(S=np.zeros((1, 5, 257)), sr=SR), "complex"),
    (lambda: F.logmel(S=np.zeros((5, 257), np.complex64), sr=SR), "shape"),
    (lambda: F.foa_iv(S=np.zeros((2, 5, 257), np.complex64), sr=SR), "4 channels"),
    (lambda: F.logmel(S=np.zeros((1, 5, 257), np.complex64), sr=SR, n_fft=1024), "bins"),
    (lambda: F.logmel(S=np.full((1, 5, 257), np.nan, np.complex64), sr=SR), "non-finite"),
    (lambda: F.mix_stft(np.eye(3), np.zeros((4, 5, 257), np.complex64)), r"\(k, 4\)"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(FOAError, match=match):
        call()


def test_icf_from_stft_never_reads_unwritten_memory():
    # The ILD channel is filled after the band kernel; the S= finiteness check must not see it
    # before (freed NaN blocks of the same size are what np.empty tends to hand back).
    s = RNG.standard_normal((2, SR // 10)).astype(np.float32)
    S = F.stft(s, SR)
    want = F.icf(s, SR, n_mels=16)
    for _ in range(20):
        junk = np.full((5, S.shape[1], 16), np.nan, np.float32)
        del junk
        np.testing.assert_array_equal(F.icf(S=S, sr=SR, n_mels=16), want)
