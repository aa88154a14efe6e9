"""Is a 4-channel signal really ambiX? The energy-ratio test of the paper (Sec. V-A, Eq. 13).

For ambiX (ACN W, Y, Z, X; SN3D), any mix of uncorrelated plane waves and diffuse sound has as
much energy in the three dipoles as in W (|u|² = 1 for the dipole gains of Eq. 3), so
E_xyz / E_w ≈ 1. Other layouts give other ratios (derivations in the tests): FuMa's W at
1/√2 → 2, N3D's dipoles at √3 → 3, a mono signal copied to all four channels → 3, four
independent noises → 3, a 3-D scene without Z → 2/3, mono in W only → 0.

Both energies are measured after a low-pass at ``cutoff`` (4 kHz, as in the paper: below it
most microphones encode FOA accurately, above it spatial aliasing does not). The filter is a
linear-phase Kaiser-window FIR (``scipy.signal.firwin``): -6 dB at ``cutoff``, ~60 dB stopband,
transition band ``cutoff ± 750 Hz`` (narrower when ``cutoff`` < 1500 Hz or > sr/2 − 750 Hz),
applied in 'valid' mode (no edge transients: the first and last ``numtaps − 1`` outputs are
not used). Since the filtered signal is band-limited below the stopband edge, its energy is
evaluated on every D-th output sample (D = the largest integer with sr/(2D) >= stopband edge;
2 at 24 kHz) and multiplied by D, which is exact for a band-limited signal and D times cheaper
(numba kernel; long signals are split over threads).
"""
import functools

import numpy as np
import scipy.signal

from . import _feature_kernels as _k
from .validation import FOAError, as_audio, check_sample_rate

__all__ = ["energy_ratio", "is_ambix", "diagnose_ratio"]

_STOPBAND_DB = 60.0
_TRANSITION_HZ = 1500.0
_BLOCK = 4096           # decimated outputs computed at a time (buffers stay in L1/L2 cache)
_CHUNK = 1 << 17        # decimated outputs per work item of the thread pool

# (upper bound of the ratio, layout guess, hint); bounds are geometric midpoints between the
# ideal ratios 2/3, 1, 2 and 3.
_DIAGNOSES = (
    (0.1, "dipoles silent (mono in W)",
     "X, Y and Z carry almost no energy: the audio is probably mono in W (with silent or "
     "near-silent other channels), not ambisonic; directions cannot be recovered"),
    (np.sqrt(2.0 / 3.0), "horizontal-only or partly silent",
     "one or two dipoles carry too little energy: a 3-D scene without Z (horizontal-only mix) "
     "gives about 2/3, a single dipole about 1/3; check for silent or attenuated channels"),
    (np.sqrt(2.0), "ambix (SN3D)",
     "consistent with ambiX (ACN/SN3D); a ratio away from 1 can come from correlated sources "
     "in different directions or from a microphone's spatial aliasing"),
    (np.sqrt(6.0), "fuma",
     "W looks scaled by 1/√2 (FuMa); convert with spatialfoa.fuma_to_ambix"),
    (4.0, "n3d",
     "the dipoles look √3 too loud: N3D normalisation (convert with spatialfoa.n3d_to_sn3d), "
     "or a mono signal copied to all four channels, or four independent signals (not "
     "ambisonic)"),
    (np.inf, "W silent or not ambisonic",
     "W carries far less energy than the dipoles: W may be silent, attenuated or not in "
     "channel 0; this is probably not ambiX"),
)


def _cutoff(sr, cutoff):
    if cutoff is None:
        return None
    try:
        cutoff = float(cutoff)
    except (TypeError, ValueError):
        raise FOAError(f"cutoff must be a frequency in Hz or None, got {cutoff!r}") from None
    if not (np.isfinite(cutoff) and 0.0 < cutoff < sr / 2.0):
        raise FOAError(f"cutoff must be between 0 and sr/2 = {sr / 2:g} Hz (or None for no "
                       f"low-pass), got {cutoff:g} Hz")
    return cutoff


@functools.lru_cache(maxsize=16)
def _lowpass(sr, cutoff):
    """Polyphase taps (D, Q) float64, decimation D and length of the FIR for (sr, cutoff);
    cutoff None gives the identity filter."""
    if cutoff is None:
        return np.ones((1, 1)), 1, 1
    nyquist = sr / 2.0
    width = min(_TRANSITION_HZ, cutoff, 2.0 * (nyquist - cutoff))
    numtaps, beta = scipy.signal.kaiserord(_STOPBAND_DB, width / nyquist)
    numtaps |= 1                                   # odd length: type I linear phase
    h = scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta), fs=sr)
    d = max(1, int(nyquist // (cutoff + width / 2.0)))
    q = -(-numtaps // d)
    taps = np.zeros(d * q)
    taps[:numtaps] = h
    taps = np.ascontiguousarray(taps.reshape(q, d).T)   # taps[p, q] = h[q·d + p]
    taps.setflags(write=False)
    return taps, d, numtaps


def _energies(x, sr, cutoff):
    """Energies (channels,) float64 of the rows of validated ``x`` after the low-pass of the
    module docstring (identity when ``cutoff`` is None); checks the length against the filter.
    """
    taps, d, numtaps = _lowpass(sr, cutoff)
    n = x.shape[1]
    if n < numtaps:
        raise FOAError(f"x: {n} samples ({n / sr:.4f} s) are too short for the {cutoff:g} Hz "
                       f"low-pass, which needs at least {numtaps} samples at {sr} Hz")
    n_out = (n - numtaps) // d + 1
    taps = taps.astype(x.dtype)
    parts = _k.run_blocks(
        lambda m0: _k.lowpass_energies(x, taps, m0, min(m0 + _CHUNK, n_out), _BLOCK),
        range(0, n_out, _CHUNK), n)
    return d * np.sum(parts, axis=0)


def energy_ratio(x, sr, *, cutoff=4000.0):
    """Energy ratio E_xyz / E_w of ambiX ``x`` (4, samples) after a low-pass (paper Eq. 13).

    ``x`` is ACN W, Y, Z, X (SN3D expected) at ``sr`` Hz; ``cutoff`` in Hz (-6 dB point of a
    ~60 dB Kaiser FIR, see the module docstring), or None to use the raw signals. About 1 for
    ambiX, 2 for FuMa, 3 for N3D: see :func:`diagnose_ratio`. Raises FOAError for a wrong
    channel count, non-finite samples, a signal shorter than the filter, a bad ``sr`` or
    ``cutoff``, and when W is silent (E_w = 0: the ratio is undefined).

    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> round(energy_ratio(np.stack([s, 0.6 * s, 0.0 * s, 0.8 * s]), 24000), 6)
    1.0
    """
    sr = check_sample_rate(sr)
    cutoff = _cutoff(sr, cutoff)
    x = as_audio(x, channels=4, name="x (ambiX W, Y, Z, X)")
    if not np.any(x[0]):
        raise FOAError("W channel is silent (all zeros): the energy ratio E_xyz/E_w is "
                       "undefined")
    e = _energies(x, sr, cutoff)
    if e[0] <= 0.0:
        raise FOAError(f"W channel is silent below {cutoff:g} Hz: the energy ratio E_xyz/E_w "
                       "is undefined")
    return float((e[1] + e[2] + e[3]) / e[0])


def is_ambix(x, sr, *, tau=0.1, cutoff=4000.0):
    """True when ambiX ``x`` (4, samples: W, Y, Z, X) passes the paper's test
    |E_xyz / E_w − 1| <= tau (Eq. 13; :func:`energy_ratio` with ``cutoff``).

    >>> s = np.random.default_rng(0).standard_normal(24000)
    >>> is_ambix(np.stack([s, s, s, s]), 24000)        # mono copied: ratio 3
    False
    """
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise FOAError(f"tau must be a positive number, got {tau!r}") from None
    if not (np.isfinite(tau) and tau > 0.0):
        raise FOAError(f"tau must be a positive number, got {tau!r}")
    return bool(abs(energy_ratio(x, sr, cutoff=cutoff) - 1.0) <= tau)


def diagnose_ratio(ratio):
    """Most likely layout for an energy ratio E_xyz / E_w, and a hint: (guess, hint) strings.

    Ranges (between the ideal values, split at their geometric means): < 0.1 "dipoles silent
    (mono in W)"; < 0.82 "horizontal-only or partly silent" (3-D scene without Z: 2/3);
    < 1.41 "ambix (SN3D)" (1); < 2.45 "fuma" (2: W at 1/√2, use ``fuma_to_ambix``); < 4 "n3d"
    (3: N3D, use ``n3d_to_sn3d``, or mono copied to all channels / independent noises);
    otherwise "W silent or not ambisonic".

    >>> diagnose_ratio(2.03)[0]
    'fuma'
    """
    try:
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise FOAError(f"ratio must be a non-negative number, got {ratio!r}") from None
    if not ratio >= 0.0:            # also rejects NaN
        raise FOAError(f"ratio must be a non-negative number, got {ratio!r}")
    for upper, guess, hint in _DIAGNOSES:
        if ratio < upper:
            return guess, hint
    return _DIAGNOSES[-1][1:]          # ratio = inf
