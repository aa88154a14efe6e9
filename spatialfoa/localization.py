"""Where does the sound come from? Intensity-weighted direction maps of ambiX signals.

Every STFT bin (frame t, frequency k) of ambiX ``x`` (ACN W, Y, Z, X; SN3D) has an active
intensity vector I = Re(conj(W)·[X, Y, Z]) (x front, y left, z up), which points toward the
source of a single plane wave (Eq. 3: W·u). Each bin votes for the direction of its I with
weight |I|; votes are histogrammed on an **equirectangular grid laid out like a 360° video
frame** (docs/conventions.md): column c is centred on azimuth π·(1 − 2(c + 0.5)/n_azimuth)
(left edge +π, centre column 0 = front, decreasing to the right), row r on elevation
π/2·(1 − 2(r + 0.5)/n_elevation) (top row = zenith). Cells have equal angular size, so each
cell's votes are divided by its solid angle (the cos-elevation weighting): the map is a density
per steradian, normalised to integrate to 1 over the sphere (a diffuse field gives ≈ 1/(4π)
everywhere; all zeros when no bin has intensity). Bins between ``fmin`` and ``fmax`` are used
(default 50 Hz to 4 kHz, the band trusted by the paper's validity test; ``fmax`` is capped at
sr/2).
"""
from collections import namedtuple

import numpy as np
import scipy.ndimage

from . import _feature_kernels as _k
from .encoding import cartesian_to_spherical, direction_vector
from .features import _blocks, _spectra, _window, frame_lengths
from .validation import FOAError, as_audio, check_sample_rate, positive_int

__all__ = ["AcousticMap", "acoustic_map", "dominant_directions"]

#: ``acoustic_map`` result: density (n_elevation, n_azimuth) and the cell centres (radians).
AcousticMap = namedtuple("AcousticMap", ["map", "azimuth", "elevation"])


def _grid(n_azimuth, n_elevation):
    """Cell centres (azimuth (n_az,), elevation (n_el,)) and row solid angles (n_el,)."""
    azimuth = np.pi * (1.0 - 2.0 * (np.arange(n_azimuth) + 0.5) / n_azimuth)
    elevation = 0.5 * np.pi * (1.0 - 2.0 * (np.arange(n_elevation) + 0.5) / n_elevation)
    edges = 0.5 * np.pi * (1.0 - 2.0 * np.arange(n_elevation + 1) / n_elevation)
    solid_angle = 2.0 * np.pi / n_azimuth * (np.sin(edges[:-1]) - np.sin(edges[1:]))
    return azimuth, elevation, solid_angle


def _votes(x, sr, n_azimuth, n_elevation, n_fft, hop_length, fmin, fmax):
    """Validate and return (hist (n_el, n_az), vec (n_el, n_az, 3)): the summed |I| and I
    per cell (see :func:`spatialfoa._feature_kernels.intensity_votes`)."""
    sr = check_sample_rate(sr)
    n_azimuth = positive_int(n_azimuth, "n_azimuth")
    n_elevation = positive_int(n_elevation, "n_elevation")
    n_fft, hop_length = frame_lengths(sr, n_fft=n_fft, hop_length=hop_length)
    try:
        fmin, fmax = float(fmin), min(float(fmax), sr / 2.0)
    except (TypeError, ValueError):
        raise FOAError(f"fmin/fmax must be numbers in Hz, got {fmin!r}, {fmax!r}") from None
    if not (np.isfinite(fmin) and np.isfinite(fmax) and 0.0 <= fmin <= fmax):
        raise FOAError(f"need 0 <= fmin <= fmax (Hz), got fmin={fmin:g}, fmax={fmax:g}")
    k0 = int(np.ceil(fmin * n_fft / sr))
    k1 = int(np.floor(fmax * n_fft / sr)) + 1
    if k1 <= k0:
        raise FOAError(f"no FFT bin between fmin={fmin:g} and fmax={fmax:g} Hz "
                       f"(bin spacing {sr / n_fft:g} Hz)")
    x = as_audio(x, channels=4, name="x (ambiX W, Y, Z, X)", min_samples=hop_length)
    x = x.astype(np.float32, copy=False)
    win = _window("hann", n_fft, np.float32)
    n_frames = x.shape[1] // hop_length

    def work(block):
        spec = _spectra(x, win, hop_length, n_fft // 2, *block)
        return _k.intensity_votes(spec, k0, k1, n_azimuth, n_elevation)

    parts = _k.run_blocks(work, _blocks(n_frames), x.shape[1])
    hist = sum(p[0] for p in parts)
    vec = sum(p[1] for p in parts)
    return hist, vec


def acoustic_map(x, sr, *, n_azimuth=72, n_elevation=36, n_fft=None, hop_length=None, fmin=50.0,
                 fmax=4000.0):
    """Intensity-weighted direction map of ambiX ``x`` (4, samples: W, Y, Z, X) at ``sr`` Hz.

    Returns ``AcousticMap(map, azimuth, elevation)``: ``map`` (n_elevation, n_azimuth) float64,
    a density per steradian integrating to 1 (see the module docstring), laid out like an
    equirectangular video frame (row 0 = zenith, column 0 = azimuth +π, centre = front);
    ``azimuth`` (n_azimuth,) and ``elevation`` (n_elevation,) are the cell centres in radians
    (decreasing). ``plt.imshow(m.map)`` shows it as a 360° frame would.

    >>> from spatialfoa import encode
    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> m = acoustic_map(encode(s, np.radians(62), np.radians(22)), 24000)
    >>> r, c = np.unravel_index(m.map.argmax(), m.map.shape)
    >>> round(float(np.degrees(m.azimuth[c])), 1), round(float(np.degrees(m.elevation[r])), 1)
    (62.5, 22.5)
    """
    hist, _ = _votes(x, sr, n_azimuth, n_elevation, n_fft, hop_length, fmin, fmax)
    azimuth, elevation, solid_angle = _grid(hist.shape[1], hist.shape[0])
    total = hist.sum()
    density = hist / solid_angle[:, None] / (total if total > 0 else 1.0)
    return AcousticMap(density, azimuth, elevation)


def _smooth(density, sigma):
    """Gaussian smoothing (``sigma`` in cells) on the sphere's grid: wraps around in azimuth
    and continues across each pole at the opposite azimuth."""
    if sigma <= 0:
        return density
    n_el, n_az = density.shape
    pad = min(n_el, int(np.ceil(4 * sigma)))
    top = np.roll(density[:pad][::-1], n_az // 2, axis=1)
    bottom = np.roll(density[-pad:][::-1], n_az // 2, axis=1)
    padded = np.concatenate([top, density, bottom])
    padded = scipy.ndimage.gaussian_filter1d(padded, sigma, axis=1, mode="wrap")
    padded = scipy.ndimage.gaussian_filter1d(padded, sigma, axis=0, mode="nearest")
    return padded[pad:pad + n_el]


def dominant_directions(x, sr, *, k=1, min_separation=np.pi / 6, smoothing=1.0, n_azimuth=72,
                        n_elevation=36, n_fft=None, hop_length=None, fmin=50.0, fmax=4000.0):
    """Directions of the ``k`` strongest sound sources in ambiX ``x`` (4, samples: W, Y, Z, X).

    Returns (k, 2) float64 (azimuth, elevation) in radians, strongest first (azimuth CCW from
    the front, elevation up). The :func:`acoustic_map` density is smoothed with a Gaussian of
    ``smoothing`` cells (circular in azimuth, across the poles); peaks are picked greedily with
    non-maximum suppression: after each pick, cells closer than ``min_separation`` (radians,
    great-circle) are discarded. Each peak is refined to the direction of the summed intensity
    vectors of the cells within ``min_separation / 2`` of it (exact for a plane wave). Rows are
    NaN when fewer than ``k`` peaks exist (e.g. silence). Sources are resolved where they do not
    overlap in time-frequency (different bands, taking turns); bins where two sources overlap
    at similar levels vote between them and pull the peaks together (two equal white noises
    120° apart come out ~15° too close to each other).

    >>> from spatialfoa import encode
    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> x = encode(s, np.radians(62), np.radians(22))
    >>> np.degrees(dominant_directions(x, 24000, k=2)).round(3)
    array([[62., 22.],
           [nan, nan]])
    """
    k = positive_int(k, "k")
    try:
        min_separation, smoothing = float(min_separation), float(smoothing)
    except (TypeError, ValueError):
        raise FOAError(f"min_separation and smoothing must be numbers, got "
                       f"{min_separation!r}, {smoothing!r}") from None
    if not 0.0 < min_separation <= np.pi:
        raise FOAError(f"min_separation must be in (0, pi] radians, got {min_separation!r}")
    if not (np.isfinite(smoothing) and smoothing >= 0.0):
        raise FOAError(f"smoothing must be >= 0 (cells), got {smoothing!r}")
    hist, vec = _votes(x, sr, n_azimuth, n_elevation, n_fft, hop_length, fmin, fmax)
    azimuth, elevation, solid_angle = _grid(hist.shape[1], hist.shape[0])
    score = _smooth(hist / solid_angle[:, None], smoothing).ravel()
    centres = direction_vector(azimuth[None, :], elevation[:, None]).reshape(-1, 3)
    vec = vec.reshape(-1, 3)
    out = np.full((k, 2), np.nan)
    for i in range(k):
        best = int(np.argmax(score))
        if not score[best] > 0.0:
            break
        angle = np.arccos(np.clip(centres @ centres[best], -1.0, 1.0))
        v = vec[angle <= min_separation / 2].sum(axis=0)
        if not np.any(v):
            v = centres[best]
        out[i] = cartesian_to_spherical(v)
        score[angle < min_separation] = 0.0
    return out
