"""First-order beamforming of ambiX (ACN W, Y, Z, X; SN3D) signals, paper Eq. 5 and 9.

A beam towards unit vector u with pattern parameter a is y = a·W + (1 - a)·(u·[X, Y, Z]): its
response to a plane wave at angle γ from the look direction is a + (1 - a)·cos γ, with unit gain
on axis. Note: the reference implementation of [17] used the unnormalised projection u^T x of
Eq. 5 (on-axis gain 2 for a = 1/2 weights [1, u]); ours are normalised to on-axis gain 1.
Angles in radians (azimuth CCW from the front, +pi/2 = left; elevation up); arrays (channels,
samples).
"""
import numpy as np

from ._mixing import mix
from .encoding import _finite_angles, sh_coefficients
from .rotation import _require_scalars, align_matrix
from .validation import FOAError

SQRT3 = np.sqrt(3.0)

PATTERNS = {
    "omni": 1.0,
    "cardioid": 0.5,
    "supercardioid": (SQRT3 - 1.0) / 2.0,    # maximum front-to-back ratio, DI 5.72 dB
    "hypercardioid": 0.25,                   # maximum directivity, DI 6.02 dB, nulls ±109.47°
    "figure8": 0.0,
    "max_re": 1.0 / (1.0 + SQRT3),           # maximises the energy vector rE (exact, 1st order)
}


def _pattern_a(pattern):
    """The omni weight a of a pattern name (see PATTERNS) or of a number in [0, 1]."""
    if isinstance(pattern, str):
        if pattern not in PATTERNS:
            raise FOAError(f"unknown beam pattern {pattern!r}; expected one of "
                           f"{', '.join(PATTERNS)} or a number a in [0, 1]")
        return PATTERNS[pattern]
    if isinstance(pattern, (bool, np.bool_)) or not np.isscalar(pattern) or not np.isreal(pattern):
        raise FOAError(f"pattern: expected a name or a number a in [0, 1], got {pattern!r}")
    a = float(pattern)
    if not 0.0 <= a <= 1.0:
        raise FOAError(f"pattern: a must lie in [0, 1] (1 omni, 0 figure-of-eight), got {a}")
    return a


def beam_weights(azimuth, elevation, pattern):
    """ambiX beam weights w (..., 4) = [a, (1-a)·u_y, (1-a)·u_z, (1-a)·u_x]; y = w · x.

    ``pattern`` is a name in PATTERNS or the omni weight a in [0, 1]; angles (radians) broadcast.
    Unit on-axis gain (the reference code of [17] had gain 2).
    Example: ``beam_weights(np.pi / 2, 0, "hypercardioid")`` -> [0.25, 0.75, 0, 0].
    """
    a = _pattern_a(pattern)
    return sh_coefficients(azimuth, elevation) * np.array([a, 1.0 - a, 1.0 - a, 1.0 - a])


def beam_pattern(gamma, pattern):
    """Directional response a + (1 - a)·cos γ of a beam at angle ``gamma`` (radians) off axis.

    Example: ``beam_pattern(np.pi, "cardioid")`` -> 0.0.
    """
    a = _pattern_a(pattern)
    (gamma,) = _finite_angles(gamma=gamma)
    return a + (1.0 - a) * np.cos(gamma)


def beamform(x, azimuth, elevation, *, pattern="hypercardioid"):
    """Beams from ambiX x (4, n) towards (azimuth, elevation) -> (n_beams, n).

    Scalar angles give (1, n); arrays (broadcast together, flattened) give one beam per
    direction. ``pattern`` is a name in PATTERNS or the omni weight a in [0, 1]. Unit on-axis
    gain (unlike the unnormalised u^T x beams of [17]'s code, gain 2). Output in x's dtype.
    Example: ``beamform(encode(s, 0.3, 0.1), 0.3, 0.1)`` -> [s].
    """
    w = beam_weights(azimuth, elevation, pattern).reshape(-1, 4)
    return mix(w, x)


def to_stereo(x, azimuth=0.0, elevation=0.0, *, pattern="hypercardioid"):
    """Coincident stereo [L, R] (2, n) from ambiX x (4, n), paper Eq. 9.

    The scene is aligned so that (azimuth, elevation) (radians) is the front (``align``), then
    two beams point at (+pi/2, 0) (L) and (-pi/2, 0) (R). With hypercardioids a source on the
    left of that front gives L = 1, R = -0.5. Output in the dtype of ``x``.
    Example: ``to_stereo(encode(s, np.pi / 2, 0.0))`` -> [s, -0.5·s].
    """
    lr = beam_weights(np.array([np.pi / 2, -np.pi / 2]), 0.0, pattern)
    _require_scalars(azimuth=azimuth, elevation=elevation)
    return mix(lr @ align_matrix(azimuth, elevation), x)


def to_mono(x, azimuth, elevation, *, pattern="hypercardioid"):
    """One beam (1, n) from ambiX x (4, n) towards (azimuth, elevation) (radians), Eq. 5.

    Same as a frontal beam after ``align(x, azimuth, elevation)`` (the paper's *mono* case);
    unit on-axis gain. Example: ``to_mono(encode(s, 1.0, 0.2), 1.0, 0.2)`` -> [s].
    """
    _require_scalars(azimuth=azimuth, elevation=elevation)
    return beamform(x, azimuth, elevation, pattern=pattern)

