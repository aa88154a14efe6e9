"""Spectral features of FOA and stereo signals: log-mel, FOA-IV and ICF (paper Sec. III-F, IV).

Defaults follow the paper (Sec. III-A) at any sample rate: the FFT size (= window length) is
the next power of two of ``WINDOW_MS`` = 21 ms of samples and the hop is ``HOP_MS`` = 10 ms
(:func:`frame_lengths`), so at 24 kHz the window is 512 samples (21.3 ms), the hop 240 and a
1 s excerpt gives exactly 100 frames; at 48 kHz 1024 and 480, again 100 frames per second.
128 Slaney mel bands from 0 Hz to sr/2 (``librosa.filters.mel``). Explicit ``n_fft`` and
``hop_length`` (samples) override the defaults. The STFT is unnormalised, so the same sound at
twice the rate (twice the window samples) has log-mel powers 20·log10(2) ≈ 6.02 dB higher;
intensity, ILD and IPD do not depend on it.

Every feature function also takes a precomputed STFT ``S`` (from :func:`stft`) instead of the
signal, as librosa's ``S=``: compute it once per clip, then rotate or beamform it in the STFT
domain with :func:`mix_stft` (the STFT is linear, so STFT(Q·x) = Q·STFT(x) for a real matrix Q)
and take features per crop without another FFT.

Conventions (docs/conventions.md): audio is (channels, samples); ambiX input is ACN W, Y, Z, X
with SN3D; intensity outputs are Cartesian x (front), y (left), z (up); features are float32
(channels, frames, mel bands).

Frames are centred: frame t covers samples t·hop − n_fft/2 .. t·hop + n_fft/2 − 1 of the signal
zero-padded by n_fft/2 on both sides (librosa's ``center=True, pad_mode="constant"``), and there
are exactly ``n_samples // hop_length`` of them (librosa gives one more, centred on the last
sample). Log-mel power is ``10·log10(P + LOG_EPS)`` with ``LOG_EPS = 1e-10``: a -100 dB floor
on the unnormalised power |STFT|² summed with the mel weights. The feature functions compute
the STFT in single precision (outputs are float32) and accumulate band sums in float64.

Speed: frames are processed in blocks of 256 (window, FFT, then a numba kernel that visits only
the non-zero mel weights); signals of 2^18 samples or more (~11 s at 24 kHz) spread the blocks
over ``numba.get_num_threads()`` threads (``numba.set_num_threads(1)`` keeps to one core).

``FEATURE_CHANNELS`` maps the paper's input variants to their channel counts:
"logmel-ambi" 4 (W, Y, Z, X), "foa-iv" 7 (Eq. 8), "logmel-stereo" 2 (L, R), "icf" 5 (Eq. 12),
"logmel-mono" 1.
"""
import functools

import numpy as np
import scipy.fft
import scipy.signal

from . import _feature_kernels as _k
from ._mixing import mix
from .validation import FOAError, as_audio, check_sample_rate, positive_int

__all__ = ["stft", "mix_stft", "frame_lengths", "mel_filterbank", "logmel", "intensity_vector",
           "ild_ipd", "foa_iv", "icf", "FEATURE_CHANNELS", "LOG_EPS", "WINDOW_MS", "HOP_MS"]

#: Floor added to mel powers before the log (and below which a band counts as silent).
LOG_EPS = 1e-10
_DB_PER_NEPER = np.float32(10.0 / np.log(10.0))   # 10·log10(p) = ln(p) · this

#: Channel count of each feature variant (paper Eq. 8 and 12).
FEATURE_CHANNELS = {"logmel-ambi": 4, "foa-iv": 7, "logmel-stereo": 2, "icf": 5,
                    "logmel-mono": 1}

#: Default window (ms, rounded up to a power-of-two FFT size) and hop (ms), paper Sec. III-A.
WINDOW_MS = 21.0
HOP_MS = 10.0

_PAD_MODES = ("constant", "reflect")
_AGGREGATIONS = ("band", "bin")
#: Frames per STFT block in the feature functions: keeps the frame and spectrum buffers in
#: cache between the FFT and the band kernels, and is the unit of work of the thread pool.
_BLOCK_FRAMES = 256


def frame_lengths(sr, *, n_fft=None, hop_length=None):
    """(n_fft, hop_length) in samples for sample rate ``sr`` Hz: ``None`` means the defaults,
    n_fft = the next power of two >= round(WINDOW_MS·sr/1000) (the window spans the FFT) and
    hop_length = round(HOP_MS·sr/1000). 24000 -> (512, 240); 48000 -> (1024, 480);
    44100 -> (1024, 441); 16000 -> (512, 160). Explicit values are validated and kept.
    """
    sr = check_sample_rate(sr)
    if n_fft is None:
        n_fft = 1 << max(1, int(np.ceil(np.log2(round(WINDOW_MS * sr / 1000.0)))))
    if hop_length is None:
        hop_length = max(1, int(round(HOP_MS * sr / 1000.0)))
    return positive_int(n_fft, "n_fft", 2), positive_int(hop_length, "hop_length")


def _window(window, n_fft, dtype):
    """Periodic window of length ``n_fft`` (scipy name/tuple or array) as ``dtype``."""
    if isinstance(window, (str, tuple)):
        try:
            win = scipy.signal.get_window(window, n_fft, fftbins=True)
        except ValueError as err:
            raise FOAError(f"window {window!r}: {err}") from None
    else:
        win = np.asarray(window, dtype=np.float64)
        if win.shape != (n_fft,):
            raise FOAError(f"window: expected a name or an array of length n_fft={n_fft}, "
                           f"got shape {win.shape}")
    return np.ascontiguousarray(win, dtype=dtype)


def _spectra(x, window, hop_length, pad, t0, n_frames):
    """rfft of the windowed frames t0 .. t0 + n_frames − 1 of validated ``x`` (frame t starts at
    sample t·hop − pad; zeros outside the signal): complex (channels, n_frames, bins)."""
    frames = np.empty((x.shape[0], n_frames, window.size), x.dtype)
    _k.windowed_frames(x, window, hop_length, pad, t0, frames)
    return scipy.fft.rfft(frames, axis=-1, overwrite_x=True)


def _blocks(n_frames):
    """(first frame, frame count) of the blocks of ``_BLOCK_FRAMES`` frames covering n_frames."""
    return [(t0, min(_BLOCK_FRAMES, n_frames - t0)) for t0 in range(0, n_frames, _BLOCK_FRAMES)]


def stft(x, sr, *, n_fft=None, hop_length=None, window="hann", pad_mode="constant"):
    """Centred short-time Fourier transform, complex (channels, frames, 1 + n_fft // 2).

    ``x`` is (channels, samples) at ``sr`` Hz; ``n_fft``/``hop_length`` in samples default to
    21 ms (next power of two) and 10 ms (:func:`frame_lengths`: 512 and 240 at 24 kHz).
    Frame t is centred on sample t·hop_length and there are exactly ``samples // hop_length``
    frames (1 s -> 100 frames with the defaults). This is the ``S`` that :func:`logmel`,
    :func:`foa_iv`, :func:`intensity_vector`, :func:`icf` and :func:`ild_ipd` accept (with
    ``window="hann"`` and float32 ``x``, the same spectra they compute from ``x``).
    The signal is padded by n_fft/2 on each side with zeros (``pad_mode="constant"``, as
    librosa's default) or by reflection (``"reflect"``). ``window`` is a scipy window name
    (periodic, length n_fft) or an array of length n_fft. No scaling: bin k of frame t is
    Σ_n w[n]·x[t·hop − n_fft/2 + n]·exp(−2πi·k·n/n_fft). complex64 for float32 input, else
    complex128. These are librosa.stft(..., center=True)'s first ``samples // hop`` frames.

    >>> stft(np.zeros((4, 24000)), 24000).shape
    (4, 100, 257)
    """
    n_fft, hop_length = frame_lengths(sr, n_fft=n_fft, hop_length=hop_length)
    x = as_audio(x, min_samples=hop_length)
    if pad_mode not in _PAD_MODES:
        raise FOAError(f"pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
    win = _window(window, n_fft, x.dtype)
    n_frames, pad = x.shape[1] // hop_length, n_fft // 2
    if pad_mode == "reflect":
        if x.shape[1] <= pad:
            raise FOAError(f"x: reflect padding needs more than n_fft/2 = {pad} samples, "
                           f"got {x.shape[1]}")
        x, pad = np.pad(x, ((0, 0), (pad, pad)), mode="reflect"), 0
    return _spectra(x, win, hop_length, pad, 0, n_frames)


def mix_stft(matrix, S):
    """Apply a real (k, 4) matrix to a complex ambiX STFT ``S`` (4, frames, bins): returns
    ``matrix · S`` (k, frames, bins) in the dtype of ``S``, accumulated in float64.

    The STFT is linear, so ``mix_stft(Q, stft(x, sr)) == stft(Q @ x, sr)`` (up to rounding):
    with ``Q = rotation_matrix(...)`` or ``align_matrix(...)`` (4, 4) this rotates the sound
    field, with ``beam_weights(...)`` (n_beams, 4) it beamforms, without another FFT.
    Example: ``foa_iv(S=mix_stft(align_matrix(az, el), S), sr=24000)``.
    """
    S = _as_stft(S, channels=4, finite=False)      # mix() checks its output
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None]
    if m.ndim != 2 or m.shape[1] != 4 or not np.all(np.isfinite(m)):
        raise FOAError(f"matrix: expected a finite real (k, 4) matrix, got shape {m.shape}")
    c, frames, bins = S.shape
    real = np.ascontiguousarray(S).view(S.real.dtype).reshape(c, -1)   # (4, frames·2·bins)
    out = mix(m, real, name="S")
    return out.view(S.dtype).reshape(m.shape[0], frames, bins)


def _as_stft(S, channels=None, n_fft=None, finite=True):
    """``S`` validated as a complex (channels, frames, bins) STFT (with finite values unless
    ``finite=False``: the caller checks its results instead)."""
    S = np.asarray(S)
    if S.dtype not in (np.complex64, np.complex128):
        raise FOAError(f"S: expected a complex STFT (channels, frames, bins) from "
                       f"spatialfoa.stft, got dtype {S.dtype}")
    if S.ndim != 3 or S.shape[1] < 1 or S.shape[2] < 2:
        raise FOAError(f"S: expected a complex STFT (channels, frames, bins), got shape "
                       f"{S.shape}")
    if channels is not None:
        allowed = (channels,) if np.isscalar(channels) else tuple(channels)
        if S.shape[0] not in allowed:
            want = " or ".join(str(c) for c in allowed)
            raise FOAError(f"S: expected {want} channels, got {S.shape[0]}")
    if n_fft is not None and S.shape[2] != n_fft // 2 + 1:
        raise FOAError(f"S: {S.shape[2]} bins, but n_fft={n_fft} has {n_fft // 2 + 1}")
    if finite and not np.all(np.isfinite(S)):
        raise FOAError("S: non-finite STFT value (NaN or inf)")
    return S


def _mel_range(sr, fmin, fmax):
    """Validated (fmin, fmax) floats for ``sr``; ``fmax=None`` means sr/2."""
    nyquist = sr / 2.0
    fmax = nyquist if fmax is None else fmax
    try:
        fmin, fmax = float(fmin), float(fmax)
    except (TypeError, ValueError):
        raise FOAError(f"fmin/fmax must be numbers in Hz, got {fmin!r}, {fmax!r}") from None
    if not (np.isfinite(fmin) and np.isfinite(fmax) and 0.0 <= fmin < fmax <= nyquist):
        raise FOAError(f"need 0 <= fmin < fmax <= sr/2 = {nyquist:g} Hz, "
                       f"got fmin={fmin:g}, fmax={fmax:g}")
    return fmin, fmax


@functools.lru_cache(maxsize=32)
def _mel_matrix(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                              htk=False, norm="slaney", dtype=np.float64)
    mel.setflags(write=False)
    return mel


@functools.lru_cache(maxsize=32)
def _mel_bands(sr, n_fft, n_mels, fmin, fmax):
    """Mel filterbank in the compressed form the kernels use: (weights, ptr, lo).

    Band m spans bins lo[m] .. lo[m] + ptr[m+1] − ptr[m] − 1 (from its first to its last
    non-zero weight), weights[ptr[m]:ptr[m+1]]; an empty band has ptr[m+1] == ptr[m].
    """
    mel = _mel_matrix(sr, n_fft, n_mels, fmin, fmax)
    lo = np.zeros(n_mels, np.int64)
    ptr = np.zeros(n_mels + 1, np.int64)
    runs = []
    for m, row in enumerate(mel):
        nz = np.flatnonzero(row)
        if nz.size:
            lo[m] = nz[0]
            runs.append(row[nz[0]:nz[-1] + 1])
        ptr[m + 1] = ptr[m] + (nz[-1] - nz[0] + 1 if nz.size else 0)
    weights = np.concatenate(runs) if runs else np.zeros(0)
    for a in (weights, ptr, lo):
        a.setflags(write=False)
    return weights, ptr, lo


def mel_filterbank(sr, *, n_fft=None, n_mels=128, fmin=0.0, fmax=None):
    """Slaney-style mel filterbank (n_mels, 1 + n_fft // 2), float64 (``librosa.filters.mel``
    with ``htk=False, norm="slaney"``); ``fmax=None`` means sr/2, ``n_fft=None`` the default
    of :func:`frame_lengths` (512 at 24 kHz).

    Cached per (sr, n_fft, n_mels, fmin, fmax): the array is shared and read-only (copy it
    before modifying). Example: ``mel_filterbank(24000).shape`` -> (128, 257).
    """
    sr = check_sample_rate(sr)
    n_fft = frame_lengths(sr, n_fft=n_fft)[0]
    n_mels = positive_int(n_mels, "n_mels")
    return _mel_matrix(sr, n_fft, n_mels, *_mel_range(sr, fmin, fmax))


def _band_features(kernel, n_out, n_db, x, sr, S, channels, name, n_fft, hop_length, window,
                   n_mels, fmin, fmax, extra=()):
    """Validate, then per block of frames: float32 STFT of ``x`` (or the given ``S``), band
    ``kernel`` into a (n_out, frames, n_mels) float32 array (``n_out=None``: one per input
    channel) and 10·log10 of its first ``n_db`` channels (``None``: all)."""
    if sr is None:
        raise FOAError("sr: the sample rate (Hz) is required")
    if (x is None) == (S is None):
        raise FOAError(f"give either the signal {name.split()[0]} or its STFT S=, not "
                       f"{'both' if S is not None else 'neither'}")
    sr = check_sample_rate(sr)
    if S is not None:
        S = np.asarray(S)
        if n_fft is None and S.ndim == 3:
            n_fft = 2 * (S.shape[-1] - 1)           # as librosa: an even FFT size
        S = _as_stft(S, channels, n_fft, finite=False)   # a NaN/inf shows in the output
    n_fft, hop_length = frame_lengths(sr, n_fft=n_fft, hop_length=hop_length)
    n_mels = positive_int(n_mels, "n_mels")
    bands = _mel_bands(sr, n_fft, n_mels, *_mel_range(sr, fmin, fmax))
    if S is None:
        x = as_audio(x, channels=channels, name=name, min_samples=hop_length)
        x = x.astype(np.float32, copy=False)
        win = _window(window, n_fft, np.float32)
        n_ch, n_frames, n_samples = x.shape[0], x.shape[1] // hop_length, x.shape[1]
    else:
        n_ch, n_frames = S.shape[:2]
        n_samples = n_frames * hop_length
    out = np.empty((n_out or n_ch, n_frames, n_mels), np.float32)

    def work(block):
        t0, count = block
        part = out[:, t0:t0 + count]
        if S is None:
            spec = _spectra(x, win, hop_length, n_fft // 2, t0, count)
        else:
            spec = np.ascontiguousarray(S[:, t0:t0 + count])
        kernel(spec, *bands, LOG_EPS, part, *extra)
        db = part[:n_db]
        np.log(db, out=db)       # 10·log10 as ln · 10/ln 10: numpy's float32 log is SIMD,
        db *= _DB_PER_NEPER       # its log10 is not (1.7x the time of the whole conversion)

    _k.run_blocks(work, _blocks(n_frames), n_samples)
    # a NaN/inf in S shows in every band energy (a smaller pass than over S); only the kernel's
    # log channels are read: the caller may fill others (icf's ILD) afterwards
    if S is not None and not np.all(np.isfinite(out[:n_db] if n_db else out)):
        raise FOAError("S: non-finite STFT value (NaN or inf)")
    return out


_COMMON_DOC = """``n_fft``/``hop_length`` in samples default to 21 ms (next power of two) and 10 ms of
    ``sr`` (:func:`frame_lengths`); ``window`` as in :func:`stft`; ``n_mels`` Slaney bands
    from ``fmin`` to ``fmax`` Hz (``None``: sr/2). Instead of the signal, ``S=`` takes its
    complex STFT (channels, frames, bins) from :func:`stft` (n_fft is then inferred as
    2·(bins − 1) unless given; hop and window are those S was made with)."""


def logmel(x=None, sr=None, *, S=None, n_fft=None, hop_length=None, window="hann", n_mels=128,
           fmin=0.0, fmax=None):
    """Log mel-band energies of every channel: (channels, frames, n_mels) float32, in dB.

    ``10·log10(Σ_k mel[m, k]·|X[t, k]|² + LOG_EPS)`` with the STFT of :func:`stft` (centred,
    zero-padded, periodic Hann, unnormalised) and :func:`mel_filterbank`; ``LOG_EPS = 1e-10``
    sets a -100 dB floor. ``x`` is (channels, samples) at ``sr`` Hz; frames = samples // hop.
    Same as ``10*log10(librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels, center=True) + 1e-10)`` without its last frame.
    {common}

    >>> logmel(np.zeros((4, 24000)), 24000).shape
    (4, 100, 128)
    """
    return _band_features(_k.mel_powers, None, None, x, sr, S, None, "x", n_fft, hop_length,
                          window, n_mels, fmin, fmax)


def foa_iv(x=None, sr=None, *, S=None, n_fft=None, hop_length=None, window="hann", n_mels=128,
           fmin=0.0, fmax=None, aggregation="band"):
    """FOA-IV features (paper Eq. 8): (7, frames, n_mels) float32 = log-mel of W, Y, Z, X
    (:func:`logmel`, dB) stacked with the band intensity vector x, y, z
    (:func:`intensity_vector`, ``aggregation`` "band" or "bin"). ``x`` is ambiX (4, samples):
    ACN W, Y, Z, X, SN3D.
    {common}

    >>> foa_iv(np.zeros((4, 24000)), 24000).shape
    (7, 100, 128)
    """
    if aggregation not in _AGGREGATIONS:
        raise FOAError(f"aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}")
    return _band_features(_k.foa_bands, 7, 4, x, sr, S, 4, "x (ambiX W, Y, Z, X)", n_fft,
                          hop_length, window, n_mels, fmin, fmax, (aggregation == "bin",))


def intensity_vector(x=None, sr=None, *, S=None, n_fft=None, hop_length=None, window="hann",
                     n_mels=128, fmin=0.0, fmax=None, aggregation="band"):
    """Normalised active intensity vector per mel band (paper Eq. 7): (3, frames, n_mels)
    float32, channels ordered **x (front), y (left), z (up)**.

    ``x`` is ambiX (4, samples): ACN W, Y, Z, X with SN3D. For band m of frame t, with mel
    weights mel[m, k] >= 0 and STFT bins W, X, Y, Z (:func:`stft`)::

        I = Σ_k mel[m, k]·2·Re(conj(W)·[X, Y, Z]) / Σ_k mel[m, k]·(|W|² + |X|² + |Y|² + |Z|²)

    (``aggregation="band"``, the default: energies summed per band, then divided), so |I| <= 1
    in every band (Cauchy-Schwarz per bin). ``aggregation="bin"`` normalises each bin first and
    then averages with the mel weights normalised to sum 1, as Cao et al. [36] and the DCASE
    SELD baselines do::

        I = Σ_k mel[m, k]·I_k / Σ_k mel[m, k],  I_k = 2·Re(conj(W)·[X, Y, Z]) / (|W|² + |X|² + |Y|² + |Z|²)

    (|I| <= 1 again; loud bins weigh no more than quiet ones). A single plane wave from (θ, φ)
    gives the unit vector toward (θ, φ) (Eq. 3) with both: [cosθcosφ, sinθcosφ, sinφ];
    uncorrelated sources or diffuse sound give shorter vectors (≈0 for a diffuse field). Bands
    whose power is <= LOG_EPS (silent) are 0, and so are silent bins with "bin".
    {common}

    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> intensity_vector(np.stack([s, s, 0 * s, 0 * s]), 24000)[:, 50, 64]  # from the left
    array([0., 1., 0.], dtype=float32)
    """
    return foa_iv(x, sr, S=S, n_fft=n_fft, hop_length=hop_length, window=window, n_mels=n_mels,
                  fmin=fmin, fmax=fmax, aggregation=aggregation)[4:]


def icf(stereo=None, sr=None, *, S=None, n_fft=None, hop_length=None, window="hann",
        n_mels=128, fmin=0.0, fmax=None):
    """Inter-channel features (paper Eq. 12): (5, frames, n_mels) float32 = log-mel of L, R
    (:func:`logmel`, dB) stacked with ILD, cos IPD, sin IPD (:func:`ild_ipd`).
    ``stereo`` is (2, samples) [L, R].
    {common}

    >>> icf(np.zeros((2, 24000)), 24000).shape
    (5, 100, 128)
    """
    out = _band_features(_k.stereo_bands, 5, 2, stereo, sr, S, 2, "stereo (L, R)", n_fft,
                         hop_length, window, n_mels, fmin, fmax)
    np.subtract(out[0], out[1], out=out[2])
    return out


def ild_ipd(stereo=None, sr=None, *, S=None, n_fft=None, hop_length=None, window="hann",
            n_mels=128, fmin=0.0, fmax=None):
    """Inter-channel level and phase differences per mel band (paper Eq. 10-11):
    (3, frames, n_mels) float32 = [ILD, cos IPD, sin IPD]. ``stereo`` is (2, samples) [L, R].

    With band energies E_L = Σ_k mel[m, k]·|L|², E_R likewise (the powers of :func:`logmel`):
    ILD = 10·log10(E_L + LOG_EPS) − 10·log10(E_R + LOG_EPS), in dB (Eq. 10 with a base-10
    decibel scale; exactly the difference of the two log-mel channels). The IPD is the angle of
    the band-summed cross-spectrum C = Σ_k mel[m, k]·L·conj(R) (so IPD = ∠L − ∠R, positive when
    L leads), returned as cos and sin; where |C| <= LOG_EPS (a silent band) it is 0, i.e.
    (1, 0). Aggregating C rather than per-bin angles avoids phase-wrapping artefacts. A pan
    L = gL·s, R = gR·s gives ILD = 20·log10(gL/gR) and IPD (1, 0) in every band; L delayed by
    d samples gives IPD ≈ −2π·f·d/sr at frequency f.
    {common}

    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> ild_ipd(np.stack([s, 0.5 * s]), 24000)[:, 50, 64]
    array([6.0206, 1.    , 0.    ], dtype=float32)
    """
    return icf(stereo, sr, S=S, n_fft=n_fft, hop_length=hop_length, window=window,
               n_mels=n_mels, fmin=fmin, fmax=fmax)[2:]


for _f in (logmel, foa_iv, intensity_vector, icf, ild_ipd):
    _f.__doc__ = _f.__doc__.replace("{common}", _COMMON_DOC)
