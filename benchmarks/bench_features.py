"""Features, validity test and acoustic map on 60 s of 4-channel FOA at 24 kHz (float32), each
against a plain librosa/numpy/scipy baseline computing the same thing in the same run.

Run: python -m pytest benchmarks/bench_features.py --benchmark-enable --benchmark-only -q
Goals (issue): log-mel + intensity vector (FOA-IV, Eq. 7-8) >= 3x faster than a librosa-based
pipeline and >= 1000x real time on one core; the validity test (Eq. 13) >= 5000x real time.
"_one_thread" variants pin numba to a single thread (scipy.fft runs on one worker anyway); the
baselines run as configured (numpy's BLAS may use every core). Real-time factor = 60 s / mean.
"""
import librosa
import numba
import numpy as np
import pytest
import scipy.signal
import scipy.sparse

from spatialfoa.localization import acoustic_map
from spatialfoa.features import LOG_EPS, foa_iv, logmel, mix_stft, stft
from spatialfoa.rotation import align, align_matrix
from spatialfoa.validity import energy_ratio

SR = 24000
SECONDS = 60
N_FFT, HOP, N_MELS = 512, 240, 128


@pytest.fixture(scope="module")
def foa():
    """(4, 60 s · 24 kHz) float32: a plane wave plus independent noise in every channel."""
    rng = np.random.default_rng(0)
    n = SECONDS * SR
    s = rng.standard_normal(n, dtype=np.float32)
    u = np.array([1.0, 0.5, 0.3, 0.81], np.float32)[:, None]
    return u * s + 0.3 * rng.standard_normal((4, n), dtype=np.float32)


@pytest.fixture
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


MEL = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)
MEL_SPARSE = scipy.sparse.csr_matrix(MEL)


def _dense_mel(a):
    """(channels, bins, frames) -> (channels, mels, frames) as librosa.feature.melspectrogram
    aggregates (``np.einsum(..., optimize=True)``)."""
    return np.einsum("mk,ckt->cmt", MEL, a, optimize=True)


def _sparse_mel(a):
    return np.stack([MEL_SPARSE @ channel for channel in a])


def librosa_foa_iv(x, mel=_dense_mel):
    """The same FOA-IV features with librosa.stft and mel aggregation in numpy."""
    spec = librosa.stft(x, n_fft=N_FFT, hop_length=HOP, center=True)[..., :x.shape[1] // HOP]
    power = spec.real ** 2 + spec.imag ** 2                       # (4, bins, frames)
    mel_power = mel(power)                                        # (4, mels, frames)
    intensity = 2 * np.real(np.conj(spec[0])[None] * spec[[3, 1, 2]])
    den = mel_power.sum(axis=0)
    iv = np.where(den > LOG_EPS, mel(intensity) / np.maximum(den, LOG_EPS), 0.0)
    out = np.concatenate([10 * np.log10(mel_power + LOG_EPS), iv])
    return np.ascontiguousarray(np.swapaxes(out, 1, 2), dtype=np.float32)


def librosa_logmel(x):
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                         n_mels=N_MELS, center=True)[..., :x.shape[1] // HOP]
    return np.swapaxes(10 * np.log10(mel + LOG_EPS), 1, 2).astype(np.float32)


def scipy_energy_ratio(x):
    """Eq. 13 the obvious way: 8th-order Butterworth at 4 kHz, zero-phase, then energies."""
    sos = scipy.signal.butter(8, 4000.0, fs=SR, output="sos")
    y = scipy.signal.sosfiltfilt(sos, x, axis=1)
    e = np.einsum("ij,ij->i", y, y)
    return e[1:].sum() / e[0]


def numpy_acoustic_map(x, n_az=72, n_el=36):
    """Vote histogram with librosa.stft and numpy (np.add.at), density per steradian."""
    spec = librosa.stft(x, n_fft=N_FFT, hop_length=HOP, center=True)[:, 2:86,
                                                                     :x.shape[1] // HOP]
    ix, iy, iz = np.real(np.conj(spec[0])[None] * spec[[3, 1, 2]]).reshape(3, -1)
    mag = np.sqrt(ix ** 2 + iy ** 2 + iz ** 2)
    col = np.clip(((np.pi - np.arctan2(iy, ix)) / (2 * np.pi) * n_az).astype(int), 0, n_az - 1)
    row = np.clip(((np.pi / 2 - np.arctan2(iz, np.hypot(ix, iy))) / np.pi * n_el).astype(int),
                  0, n_el - 1)
    hist = np.zeros((n_el, n_az))
    np.add.at(hist, (row, col), mag)
    edges = np.pi / 2 - np.pi * np.arange(n_el + 1) / n_el
    solid = 2 * np.pi / n_az * (np.sin(edges[:-1]) - np.sin(edges[1:]))
    return hist / solid[:, None] / hist.sum()


# ---- log-mel + intensity vector (FOA-IV) ----

FOA_GROUP = "FOA-IV (log-mel + AIV) of 60 s FOA"


@pytest.mark.benchmark(group=FOA_GROUP)
def test_foa_iv_numba(benchmark, foa):
    foa_iv(foa[:, :SR], SR)                           # a short (1 s) call first
    foa_iv(foa, SR)                                   # compile outside the timing
    out = benchmark(foa_iv, foa, SR)
    assert out.shape == (7, SECONDS * 100, N_MELS)


@pytest.mark.benchmark(group=FOA_GROUP)
def test_foa_iv_numba_one_thread(benchmark, foa, one_thread):
    foa_iv(foa, SR)
    benchmark(foa_iv, foa, SR)


@pytest.mark.benchmark(group=FOA_GROUP)
def test_foa_iv_librosa_baseline(benchmark, foa):
    benchmark.extra_info["baseline"] = True
    out = benchmark(librosa_foa_iv, foa)
    ours = foa_iv(foa, SR)                          # same features (float32 STFT rounding)
    np.testing.assert_allclose(ours[:4], out[:4], atol=2e-3)
    np.testing.assert_allclose(ours[4:], out[4:], atol=1e-4)


@pytest.mark.benchmark(group=FOA_GROUP)
def test_foa_iv_librosa_sparse_mel(benchmark, foa):
    """A tuned variant of the baseline: scipy.sparse mel matrix (for reference)."""
    out = benchmark(librosa_foa_iv, foa, _sparse_mel)
    np.testing.assert_allclose(librosa_foa_iv(foa), out, atol=1e-4)


CROP_GROUP = "FOA-IV of 8 aligned crops of a 1 s clip"
CROPS = [(a, e) for a, e in zip(np.linspace(-3, 3, 8), np.linspace(-0.6, 0.6, 8))]


def _crops_time_domain(x):
    return [foa_iv(align(x, a, e), SR) for a, e in CROPS]


def _crops_stft_domain(x):
    S = stft(x, SR)                                  # one FFT per clip, then 4x4 mixes of S
    return [foa_iv(S=mix_stft(align_matrix(a, e), S), sr=SR) for a, e in CROPS]


@pytest.mark.benchmark(group=CROP_GROUP)
def test_crops_time_domain_baseline(benchmark, foa):
    benchmark.extra_info["baseline"] = True
    benchmark(_crops_time_domain, foa[:, :SR])


@pytest.mark.benchmark(group=CROP_GROUP)
def test_crops_stft_domain(benchmark, foa):
    x = foa[:, :SR]
    out = benchmark(_crops_stft_domain, x)
    for got, ref in zip(out, _crops_time_domain(x)):
        np.testing.assert_allclose(got[4:], ref[4:], atol=1e-4)


LOGMEL_GROUP = "log-mel of 60 s FOA (4 channels)"


@pytest.mark.benchmark(group=LOGMEL_GROUP)
def test_logmel_numba(benchmark, foa):
    logmel(foa, SR)
    benchmark(logmel, foa, SR)


@pytest.mark.benchmark(group=LOGMEL_GROUP)
def test_logmel_numba_one_thread(benchmark, foa, one_thread):
    logmel(foa, SR)
    benchmark(logmel, foa, SR)


@pytest.mark.benchmark(group=LOGMEL_GROUP)
def test_logmel_librosa_baseline(benchmark, foa):
    benchmark.extra_info["baseline"] = True
    out = benchmark(librosa_logmel, foa)
    np.testing.assert_allclose(logmel(foa, SR), out, atol=2e-3)


# ---- validity test (Eq. 13) ----

RATIO_GROUP = "energy ratio (4 kHz low-pass) of 60 s FOA"


@pytest.mark.benchmark(group=RATIO_GROUP)
def test_energy_ratio_numba(benchmark, foa):
    energy_ratio(foa, SR)
    benchmark(energy_ratio, foa, SR)


@pytest.mark.benchmark(group=RATIO_GROUP)
def test_energy_ratio_numba_one_thread(benchmark, foa, one_thread):
    energy_ratio(foa, SR)
    benchmark(energy_ratio, foa, SR)


@pytest.mark.benchmark(group=RATIO_GROUP)
def test_energy_ratio_scipy_butter_baseline(benchmark, foa):
    benchmark.extra_info["baseline"] = True
    ratio = benchmark(scipy_energy_ratio, foa)
    assert energy_ratio(foa, SR) == pytest.approx(ratio, rel=0.01)   # different filters


# ---- acoustic map ----

MAP_GROUP = "acoustic map (72 x 36) of 60 s FOA"


@pytest.mark.benchmark(group=MAP_GROUP)
def test_acoustic_map_numba(benchmark, foa):
    acoustic_map(foa, SR)
    benchmark(acoustic_map, foa, SR)


@pytest.mark.benchmark(group=MAP_GROUP)
def test_acoustic_map_numba_one_thread(benchmark, foa, one_thread):
    acoustic_map(foa, SR)
    benchmark(acoustic_map, foa, SR)


@pytest.mark.benchmark(group=MAP_GROUP)
def test_acoustic_map_numpy_baseline(benchmark, foa):
    benchmark.extra_info["baseline"] = True
    out = benchmark(numpy_acoustic_map, foa)
    ours = acoustic_map(foa, SR).map                  # complex64 products here: a few votes
    assert np.abs(ours - out).sum() < 1e-3 * out.sum()  # near cell edges may move

