"""Plane-wave encoding into first-order ambiX (ACN W, Y, Z, X; SN3D), paper Eq. 3-4.

Conventions (docs/conventions.md): axes x front, y left, z up; azimuth counter-clockwise from the
front (+pi/2 = left), elevation up from the horizon; radians; arrays (channels, samples).
"""
import numpy as np

from .validation import FOAError, as_audio, positive_int

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


def _finite_angles(**angles):
    """Return the named angles as float64 arrays broadcast together, or raise FOAError."""
    arrays = {}
    for name, value in angles.items():
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise FOAError(f"{name}: expected a number or an array of angles in radians, "
                           f"got {value!r}") from None
        if not np.all(np.isfinite(a)):
            raise FOAError(f"{name}: angles must be finite (radians), got {value!r}")
        arrays[name] = a
    try:
        out = np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise FOAError(f"angle shapes do not broadcast: {shapes}") from None
    return out


def direction_vector(azimuth, elevation):
    """Unit vector(s) (x, y, z) pointing to (azimuth, elevation); x front, y left, z up.

    Angles in radians (azimuth CCW from the front, elevation up) broadcast together; returns
    (..., 3) float64. Example: ``direction_vector(np.pi / 2, 0)`` -> [0, 1, 0] (left).
    """
    az, el = _finite_angles(azimuth=azimuth, elevation=elevation)
    return np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)], axis=-1)


def sh_coefficients(azimuth, elevation):
    """ambiX (ACN/SN3D) encoding gains [1, sinθcosφ, sinφ, cosθcosφ] (paper Eq. 3), (..., 4).

    Order W, Y, Z, X; angles in radians (azimuth CCW from the front, elevation up), broadcast.
    Example: ``sh_coefficients(0, 0)`` -> [1, 0, 0, 1] (front).
    """
    v = direction_vector(azimuth, elevation)
    return np.concatenate([np.ones(v.shape[:-1] + (1,)), v[..., [1, 2, 0]]], axis=-1)


def encode(s, azimuth, elevation):
    """Encode source signal(s) as plane waves into ambiX (W, Y, Z, X; SN3D), paper Eq. 3.

    ``s`` is (samples,) for one source or (sources, samples); ``azimuth``/``elevation`` (radians,
    CCW from the front / up) are scalars or (sources,) arrays, broadcast against the sources
    (one signal with k angles is the same signal from k directions). Returns the (4, samples)
    sum, float32 if ``s`` is float32 else float64.
    Example: ``encode(s, np.pi / 2, 0.0)`` -> rows [s, s, 0, 0] (a source on the left).
    """
    s = np.asarray(s)
    if s.ndim == 1:
        s = s[None]
    s = as_audio(s, name="s")
    az, el = _finite_angles(azimuth=azimuth, elevation=elevation)
    if az.ndim > 1:
        raise FOAError(f"azimuth/elevation: expected scalars or (sources,) arrays, "
                       f"got shape {az.shape}")
    n_src = s.shape[0]
    if az.ndim == 1 and n_src not in (1, az.shape[0]):
        raise FOAError(f"s has {n_src} sources but {az.shape[0]} directions were given")
    gains = sh_coefficients(az, el).reshape(-1, 4)          # (directions, 4)
    if n_src > 1 and gains.shape[0] == 1:
        gains = np.broadcast_to(gains, (n_src, 4))
    if n_src == 1:                                            # one signal, summed directions
        return gains.sum(axis=0).astype(s.dtype)[:, None] * s
    return gains.T.astype(s.dtype) @ s


def fibonacci_sphere(n):
    """(n, 2) azimuth, elevation (radians) of an equal-area Fibonacci grid on the sphere."""
    i = np.arange(n)
    z = 1.0 - (2.0 * i + 1.0) / n
    az = np.mod(i * GOLDEN_ANGLE + np.pi, 2.0 * np.pi) - np.pi
    return np.stack([az, np.arcsin(z)], axis=-1)


def diffuse_field(n_samples, *, n_directions=240, rng=None, dtype=np.float64):
    """Ideal diffuse field: uncorrelated white Gaussian plane waves from a Fibonacci sphere grid.

    Returns ambiX (4, n_samples) of ``dtype`` (W, Y, Z, X; SN3D) scaled so that the realised mean
    power of W is exactly 1; its dipole energy ratio E_xyz/E_w is ≈ 1 (each direction carries
    as much dipole energy as omni energy). ``rng`` is None, a seed or a ``numpy.random.Generator``.
    Example: ``x = diffuse_field(24000, rng=0)``; ``(x[1:] ** 2).sum() / (x[0] ** 2).sum()`` ≈ 1.
    """
    n_samples = positive_int(n_samples, "n_samples")
    n_directions = positive_int(n_directions, "n_directions")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise FOAError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    rng = np.random.default_rng(rng)
    grid = fibonacci_sphere(n_directions)
    gains_t = sh_coefficients(grid[:, 0], grid[:, 1]).T       # (4, directions)
    x = np.empty((4, n_samples))
    step = max(1, 2 ** 22 // n_directions)                     # bound the noise block (~32 MB)
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        x[:, start:stop] = gains_t @ rng.standard_normal((n_directions, stop - start))
    power = np.mean(x[0] ** 2)
    return (x / np.sqrt(power)).astype(dtype, copy=False)


def cartesian_to_spherical(v):
    """Direction(s) of vector(s) ``v`` (..., 3) = (x front, y left, z up) -> (azimuth, elevation).

    Radians; azimuth in (-pi, pi] CCW from the front, elevation in [-pi/2, pi/2] up. ``v`` need
    not be unit length (a zero vector gives (0, 0)).
    Example: ``cartesian_to_spherical([0, 1, 0])`` -> (pi/2, 0).
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0 or v.shape[-1] != 3:
        raise FOAError(f"v: expected shape (..., 3) (x, y, z), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise FOAError("v: non-finite coordinates (NaN or inf)")
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))
