"""Conversions between FOA channel layouts and ambiX (ACN W, Y, Z, X; SN3D).

Arrays are (channels, samples). At first order:
- FuMa (traditional B-format) is W, X, Y, Z with W scaled by 1/sqrt(2); its dipoles equal SN3D's.
- N3D is ACN with the three dipoles scaled by sqrt(3).
- YouTube's 6-channel AAC download of an ambiX upload, decoded with PyAV/FFmpeg, comes out as
  [X, Y, W, -, Z, -] (index 3 and 5 unused: the 5.1 LFE slot and a spare), hence
  ``YOUTUBE_AAC_6CH = (2, 1, 4, 0)``. This mapping was found by round-tripping a test file and
  may change with the decoder: pass another order to ``remap_channels`` to override it.
- "ambix-6ch" is the spatial-media 6-channel file W, Y, Z, X, L, R (head-locked stereo in L, R).
"""
import numpy as np

from ._mixing import mix
from .validation import FOAError, as_audio

SQRT2 = np.sqrt(2.0)
SQRT3 = np.sqrt(3.0)

YOUTUBE_AAC_6CH = (2, 1, 4, 0)

# Rows of the input that give W, Y, Z, X (normalisation fixed afterwards for fuma and n3d).
LAYOUTS = {
    "ambix": (0, 1, 2, 3),
    "fuma": (0, 2, 3, 1),
    "n3d": (0, 1, 2, 3),
    "youtube-aac-6ch": YOUTUBE_AAC_6CH,
    "ambix-6ch": (0, 1, 2, 3),
}
_CHANNELS = {"ambix": 4, "fuma": 4, "n3d": 4, "youtube-aac-6ch": 6, "ambix-6ch": 6}

# Signals as rows: out = M @ x.
_FUMA_TO_AMBIX = np.diag([SQRT2, 1.0, 1.0, 1.0]) @ np.eye(4)[list(LAYOUTS["fuma"])]
_AMBIX_TO_FUMA = np.linalg.inv(_FUMA_TO_AMBIX)
_N3D_TO_SN3D = np.diag([1.0, 1 / SQRT3, 1 / SQRT3, 1 / SQRT3])
_SN3D_TO_N3D = np.diag([1.0, SQRT3, SQRT3, SQRT3])


def fuma_to_ambix(x):
    """FuMa (W, X, Y, Z; W at -3 dB) -> ambiX (W, Y, Z, X; SN3D), (4, n) -> (4, n).

    W is multiplied by sqrt(2) and the dipoles reordered (first-order FuMa dipoles are SN3D).
    Example: a FuMa plane wave [1/sqrt2, cosθcosφ, sinθcosφ, sinφ] becomes [1, sinθcosφ, sinφ,
    cosθcosφ].
    """
    return mix(_FUMA_TO_AMBIX, x)


def ambix_to_fuma(x):
    """ambiX (W, Y, Z, X; SN3D) -> FuMa (W, X, Y, Z; W at -3 dB), (4, n) -> (4, n)."""
    return mix(_AMBIX_TO_FUMA, x)


def n3d_to_sn3d(x):
    """ACN/N3D -> ACN/SN3D (ambiX): dipoles divided by sqrt(3), (4, n) -> (4, n)."""
    return mix(_N3D_TO_SN3D, x)


def sn3d_to_n3d(x):
    """ACN/SN3D (ambiX) -> ACN/N3D: dipoles multiplied by sqrt(3), (4, n) -> (4, n)."""
    return mix(_SN3D_TO_N3D, x)


def remap_channels(x, order):
    """Pick rows ``order`` of ``x`` (channels, n) -> (len(order), n), e.g. to fix a channel map.

    Example: ``remap_channels(y, YOUTUBE_AAC_6CH)`` turns a decoded [X, Y, W, -, Z, -] YouTube
    download into W, Y, Z, X; pass your own order if your decoder differs.
    """
    x = as_audio(x)
    idx = np.asarray(order)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise FOAError(f"order: expected a non-empty sequence of channel indices, got {order!r}")
    if idx.min() < 0 or idx.max() >= x.shape[0]:
        raise FOAError(f"order {tuple(order)} refers to channels outside 0..{x.shape[0] - 1} "
                       f"of a {x.shape[0]}-channel signal")
    return x[idx]


def to_ambix(x, *, layout="ambix"):
    """Convert a signal in ``layout`` to ambiX (4, n): W, Y, Z, X with SN3D.

    Layouts (``LAYOUTS``): "ambix" and "n3d" (ACN, 4 channels), "fuma" (W, X, Y, Z, 4 channels),
    "youtube-aac-6ch" (decoded [X, Y, W, -, Z, -], 6 channels) and "ambix-6ch" (W, Y, Z, X, L, R,
    6 channels; L, R dropped). A wrong channel count raises FOAError naming the layout. If your
    decoder orders a YouTube download differently, call ``remap_channels(x, order)`` instead.
    Example: ``to_ambix(y6, "youtube-aac-6ch")`` == ``remap_channels(y6, YOUTUBE_AAC_6CH)``.
    """
    if layout not in LAYOUTS:
        raise FOAError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    x = as_audio(x, channels=_CHANNELS[layout], name=f"x (layout {layout!r})")
    if layout == "fuma":
        return fuma_to_ambix(x)
    if layout == "n3d":
        return n3d_to_sn3d(x)
    return remap_channels(x, LAYOUTS[layout])
