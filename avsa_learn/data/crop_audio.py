"""The audio of a video crop: the scene's ambiX audio turned toward the crop centre, as one of
the paper's formats, then as features.

Formats (``config.audio_format``), for a crop centred at (theta0, phi0) (radians; azimuth
counter-clockwise from the front, +pi/2 = left, elevation up; ambiX ACN W, Y, Z, X, SN3D; see
docs/conventions.md):

- ``ambi``: the 4 channels rotated by Q(theta0, -phi0, 0) (:func:`spatialfoa.align`), so a
  source at the crop centre arrives exactly from the front;
- ``mono``: one hyper-cardioid beam at the crop centre (:func:`spatialfoa.to_mono`, Eq. 5);
- ``stereo``: hyper-cardioids at +-90 deg after the alignment, [L, R] (:func:`spatialfoa.to_stereo`,
  Eq. 9).

Features (``config.feature``): ``logmel`` (per channel), ``foa-iv`` (``ambi`` only: 4 log-mel
+ 3 intensity-vector channels, Eq. 8), ``icf`` (``stereo`` only: 2 log-mel + ILD, cos IPD,
sin IPD, Eq. 12); ``config.audio_frames`` frames (100 per second) x ``config.n_mels`` bands.

STFT once: the crop signals are real mixes M x of the scene, so their STFTs are M STFT(x); one
4-channel STFT per item serves every crop (:func:`crop_audio_features`, ``stft_once``).

Normalisation: log-mel channels (dB of mel power) are z-normalised with the fixed constants
``LOGMEL_MEAN_DB`` and ``LOGMEL_STD_DB``; intensity-vector and ILD/IPD channels are left as
they are (bounded).

``mirror=True`` gives the audio of the horizontally flipped crop: the aligned sound field is
mirrored left <-> right (Y -> -Y after alignment; the same as mirroring the scene theta -> -theta
and aligning to -theta0), so stereo L and R swap and the mono beam is unchanged.

>>> from avsa_learn.data import DataConfig
>>> x = spatialfoa.encode(np.random.default_rng(0).standard_normal(24000), 0.5, 0.0)
>>> crop_audio_features(x, 24000, 0.5, 0.0, DataConfig(feature="foa-iv")).shape
(7, 100, 128)
"""
import numpy as np

import spatialfoa
from spatialfoa.validation import FOAError, as_audio, check_sample_rate

# Log-mel (10 log10 of mel power) normalisation constants, dB, every log-mel channel of every
# format. Measured on the synthetic set (avsa-synth defaults, seed 0, 24 clips, 3 windows x 4
# random crops each, ambi/mono/stereo): mean -30.3 dB, std 13.4 dB. The reference's -34.9 / 23.7
# dB are for 10 log10 of the mel *magnitude* of YT-360, another scale.
LOGMEL_MEAN_DB = -30.0
LOGMEL_STD_DB = 13.5

LOGMEL_CHANNELS = {"logmel": None, "foa-iv": 4, "icf": 2}  # None: all channels are log-mel


def hop_length(sr):
    """STFT hop (samples) giving 100 frames per second (240 at 24 kHz)."""
    return int(round(sr / 100))


N_FFT = 512  # STFT size of the crop features (21.3 ms at 24 kHz)

_MIRROR = np.diag([1.0, -1.0, 1.0, 1.0])  # ambiX Y -> -Y


def crop_matrices(azimuth, elevation, audio_format, mirror=False):
    """Mixing matrices (K, C, 4) taking the scene's ambiX to each crop's signals: ``ambi``
    :func:`spatialfoa.align_matrix` (C = 4), ``mono`` the hyper-cardioid
    :func:`spatialfoa.beam_weights` at the crop centre (C = 1), ``stereo`` the beams at
    (+-pi/2, 0) after the alignment, [L, R] (C = 2; Eq. 9, as :func:`spatialfoa.to_stereo`).
    ``mirror`` (one flag or K): the horizontally flipped crop's version (module docstring).
    Angles: radians, scalars or (K,) arrays."""
    az, el = np.broadcast_arrays(np.atleast_1d(np.asarray(azimuth, float)),
                                 np.atleast_1d(np.asarray(elevation, float)))
    flips = np.broadcast_to(np.asarray(mirror, bool), az.shape)
    if audio_format == "mono":  # the beam is symmetric about its axis: mirror changes nothing
        return spatialfoa.beam_weights(az, el, "hypercardioid")[:, None, :]
    q = spatialfoa.align_matrix(az, el)
    if audio_format == "ambi":
        return np.where(flips[:, None, None], _MIRROR @ q, q)
    if audio_format == "stereo":
        lr = spatialfoa.beam_weights(np.array([np.pi / 2, -np.pi / 2]), 0.0, "hypercardioid")
        m = lr @ q
        return np.where(flips[:, None, None], m[:, ::-1], m)
    raise FOAError(f"audio_format must be 'ambi', 'mono' or 'stereo', got {audio_format!r}")


def crop_signals(x, azimuth, elevation, audio_format, mirror=False):
    """The scene ``x`` (4, samples) ambiX as heard from K crops centred at (azimuth, elevation)
    (radians, (K,) arrays or scalars): (K, C, samples), C = 4 ``ambi``, 1 ``mono``, 2 ``stereo``
    [L, R]; one matrix product for all crops (:func:`crop_matrices`)."""
    m = crop_matrices(azimuth, elevation, audio_format, mirror).astype(x.dtype)
    return m @ x


def normalize_logmel(features, feature):
    """z-normalise the log-mel channels of ``features`` (C, F, M) in place and return it."""
    n = LOGMEL_CHANNELS[feature]
    part = features if n is None else features[:n]
    part -= LOGMEL_MEAN_DB
    part /= LOGMEL_STD_DB
    return features


def crop_audio_features(x, sr, azimuth, elevation, config, mirror=False, stft_once=None):
    """Audio features of crops centred at (azimuth, elevation), radians, from the scene's
    ambiX audio ``x`` (4, samples) at ``sr`` (= ``config.sample_rate``).

    Scalars give float32 (C, F, M); arrays of K angles (and K ``mirror`` flags, or one) give
    (K, C, F, M); C = ``config.audio_channels``, F = ``config.audio_frames``,
    M = ``config.n_mels``. The audio is cut or zero-padded to F hops first. Format, features,
    normalisation and ``mirror``: see the module docstring.

    ``stft_once=True`` takes one STFT of the 4 scene channels and mixes its bins per crop
    (:func:`spatialfoa.mix_stft`: the crop matrices are real, so STFT(M x) = M STFT(x));
    ``False`` mixes the signals and takes an STFT per crop and channel (equal up to float32
    rounding). ``None`` (default) picks the one with fewer STFT channels: once when the K crops
    have more than 4 channels in all (4 ambi crops: 4 instead of 16, 1.5x faster), per crop
    otherwise (a single crop, or mono beams).
    """
    x = as_audio(x, channels=4, name="x")
    sr = check_sample_rate(sr)
    if sr != config.sample_rate:
        raise FOAError(f"x: sample rate {sr} Hz, but the config asks for {config.sample_rate} Hz")
    scalar = np.ndim(azimuth) == 0 and np.ndim(elevation) == 0
    hop = hop_length(sr)
    n = config.audio_frames * hop
    x = x[:, :n] if x.shape[1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[1])))
    x = np.ascontiguousarray(x, dtype=np.float32)
    kw = dict(n_fft=N_FFT, hop_length=hop, n_mels=config.n_mels)
    m = crop_matrices(azimuth, elevation, config.audio_format, mirror)        # (K, C, 4)
    k, c = m.shape[:2]
    if stft_once is None:
        stft_once = k * c > 4
    if stft_once:
        # STFT(M x) = M STFT(x): one 4-channel STFT, then every crop's mix of its bins
        spec = spatialfoa.stft(x, sr, n_fft=N_FFT, hop_length=hop)
        src = {"S": spatialfoa.mix_stft(m.reshape(k * c, 4), spec).reshape(k, c, *spec.shape[1:])}
    else:
        src = {"x": crop_signals(x, azimuth, elevation, config.audio_format, mirror)}
    feats = _features(src, sr, config.feature, kw, k, c)
    feats = np.ascontiguousarray(feats[:, :, :config.audio_frames], dtype=np.float32)
    for f in feats:
        normalize_logmel(f, config.feature)
    return feats[0] if scalar else feats


def _features(src, sr, feature, kw, k, c):
    """(K, C', F, M) features of K crops' C-channel signals ``src["x"]`` (K, C, samples) or
    STFTs ``src["S"]`` (K, C, F, bins)."""
    (name, a), = src.items()

    def call(fn, arr):
        return fn(S=arr, sr=sr, **kw) if name == "S" else fn(arr, sr, **kw)

    if feature == "logmel":
        # Log-mel is per channel: one call for all crops' channels.
        flat = call(spatialfoa.logmel, a.reshape(k * c, *a.shape[2:]))
        return flat.reshape(k, c, *flat.shape[1:])
    fn = spatialfoa.foa_iv if feature == "foa-iv" else spatialfoa.icf
    return np.stack([call(fn, one) for one in a])
