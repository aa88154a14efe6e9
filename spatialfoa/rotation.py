"""Sound-field rotation of first-order ambiX (ACN W, Y, Z, X; SN3D), paper Eq. 6.

Convention (docs/conventions.md, as in JSAmbisonics and SAF): on (x front, y left, z up),
M = Rx(roll) · Ry(pitch) · Rz(yaw), i.e. yaw is applied first, then pitch, then roll, with

    Rz(ψ) = [[c, s, 0], [-s, c, 0], [0, 0, 1]]
    Ry(θ) = [[c, 0, -s], [0, 1, 0], [s, 0, c]]
    Rx(φ) = [[1, 0, 0], [0, c, s], [0, -s, c]]

and the FOA matrix is M permuted to ACN (Y, Z, X) with W untouched. Yaw moves a source at
azimuth θ to θ - yaw (the listener turns left by ``yaw``), positive pitch raises a frontal source,
positive roll lowers a source on the left. Angles in radians; arrays (channels, samples).

``align(x, θ0, φ0)`` applies Q(θ0, -φ0, 0): the yaw θ0 first brings the source to azimuth 0 at
elevation φ0, then the pitch -φ0 lowers it to the horizon, so a plane wave from (θ0, φ0) arrives
from the front (0, 0). (Applying the pitch before the yaw, as in the reference code, does not.)
"""
import numpy as np

from ._mixing import crossfade, mix
from .encoding import _finite_angles
from .validation import FOAError, as_audio, positive_int

_ACN_FROM_XYZ = [1, 2, 0]   # ACN dipoles Y, Z, X are xyz components 1, 2, 0


def rotation_matrix_xyz(yaw, pitch, roll):
    """3x3 rotation M = Rx(roll)·Ry(pitch)·Rz(yaw) acting on (x front, y left, z up) vectors.

    Radians; array angles broadcast and give (..., 3, 3). Example:
    ``rotation_matrix_xyz(np.pi / 2, 0, 0) @ [0, 1, 0]`` -> [1, 0, 0] (left moves to the front).
    """
    yaw, pitch, roll = _finite_angles(yaw=yaw, pitch=pitch, roll=roll)
    cz, sz = np.cos(yaw), np.sin(yaw)
    cy, sy = np.cos(pitch), np.sin(pitch)
    cx, sx = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    rz = np.stack([np.stack([cz, sz, zero], -1), np.stack([-sz, cz, zero], -1),
                   np.stack([zero, zero, one], -1)], -2)
    ry = np.stack([np.stack([cy, zero, -sy], -1), np.stack([zero, one, zero], -1),
                   np.stack([sy, zero, cy], -1)], -2)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cx, sx], -1),
                   np.stack([zero, -sx, cx], -1)], -2)
    return rx @ ry @ rz


def rotation_matrix(yaw, pitch, roll):
    """4x4 ambiX rotation Q(yaw, pitch, roll) (paper Eq. 6): W untouched, dipoles rotated.

    ``Q[1:, 1:]`` is :func:`rotation_matrix_xyz` permuted to ACN (Y, Z, X); radians; array angles
    broadcast and give (..., 4, 4). Yaw moves azimuth θ to θ - yaw; positive pitch raises a
    frontal source; positive roll lowers a source on the left.
    Example: ``rotation_matrix(np.pi / 2, 0, 0) @ [1, 1, 0, 0]`` -> [1, 0, 0, 1] (left -> front).
    """
    m = rotation_matrix_xyz(yaw, pitch, roll)
    q = np.zeros(m.shape[:-2] + (4, 4))
    q[..., 0, 0] = 1.0
    q[..., 1:, 1:] = m[..., _ACN_FROM_XYZ, :][..., :, _ACN_FROM_XYZ]
    return q


def rotate(x, yaw, pitch=0.0, roll=0.0):
    """Rotate an ambiX signal x (4, n) by yaw, pitch, roll (radians; see :func:`rotation_matrix`).

    Returns (4, n) in the dtype of ``x`` (float32 stays float32; arithmetic in float64).
    Example: ``rotate(encode(s, 0.3, 0.0), 0.3)`` == ``encode(s, 0.0, 0.0)``.
    """
    _require_scalars(yaw=yaw, pitch=pitch, roll=roll)
    return mix(rotation_matrix(yaw, pitch, roll), x)


def align_matrix(azimuth, elevation):
    """4x4 ambiX matrix Q(θ0, -φ0, 0) that brings direction (azimuth, elevation) to the front.

    Radians (azimuth CCW from the front, elevation up); a plane wave from (θ0, φ0) arrives from
    (0, 0) after it. Array angles broadcast and give (..., 4, 4).
    """
    az, el = _finite_angles(azimuth=azimuth, elevation=elevation)
    return rotation_matrix(az, -el, 0.0)


def align(x, azimuth, elevation):
    """Rotate ambiX x (4, n) so that direction (azimuth, elevation) becomes the front (0, 0).

    Applies Q(θ0, -φ0, 0) (paper Sec. III-E, the *ambi* case); radians, azimuth CCW from the
    front, elevation up. Returns (4, n) in the dtype of ``x``.
    Example: ``align(encode(s, np.pi / 2, 0.5), np.pi / 2, 0.5)`` == ``encode(s, 0, 0)``.
    """
    _require_scalars(azimuth=azimuth, elevation=elevation)
    return mix(align_matrix(azimuth, elevation), x)


def rotate_blocks(x, yaw, pitch, roll, block_size):
    """Time-varying rotation of ambiX x (4, n): one (yaw, pitch, roll) per block of samples.

    Angles are radians, scalars or arrays of length n_blocks = ceil(n / block_size). As in SAF's
    rotator, each block linearly cross-fades from the previous block's matrix to its own: sample
    t of block b uses (1 - g)·Q[b-1] + g·Q[b], g = (t + 1) / block_size (Q[-1] := Q[0], so
    constant angles equal :func:`rotate`; a short last block stops part-way). The mixed matrix
    is not exactly a rotation mid-block. Returns (4, n) in the dtype of ``x``.
    Example: ``rotate_blocks(x, np.linspace(0, np.pi, 10), 0, 0, x.shape[1] // 10)``.
    """
    x = as_audio(x, channels=4)
    block_size = positive_int(block_size, "block_size")
    n_blocks = -(-x.shape[1] // block_size)
    angles = _finite_angles(yaw=yaw, pitch=pitch, roll=roll)
    if angles[0].ndim > 1 or angles[0].size not in (1, n_blocks):
        raise FOAError(f"yaw/pitch/roll: expected scalars or arrays of n_blocks = "
                       f"ceil({x.shape[1]} / {block_size}) = {n_blocks} angles, "
                       f"got shape {angles[0].shape}")
    q = np.broadcast_to(rotation_matrix(*(a.reshape(-1) for a in angles)), (n_blocks, 4, 4))
    prev = np.concatenate([q[:1], q[:-1]])
    return crossfade(prev, q, x, block_size)


def _require_scalars(**angles):
    """Raise FOAError unless every named angle is a scalar."""
    for name, a in angles.items():
        if np.ndim(a) != 0:
            raise FOAError(f"{name}: expected a scalar angle (radians), got shape {np.shape(a)}")
