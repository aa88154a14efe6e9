"""Training augmentation of video crops (flip, colour jitter), their normalisation, and the
audio gain jitter.

Parameters are drawn from a ``np.random.Generator`` (so a sample is deterministic in its seed)
and applied to a crop's frames, the same for all frames of one crop. The colour jitter is one
affine map of RGB per frame (:func:`color_transform`): brightness, saturation and a YIQ hue
rotation are 3x3 matrices, contrast blends with the frame's mean luma, composed in the drawn
order and applied to all frames at once, then clipped to [0, 1] once (torchvision's
``ColorJitter`` clips after every op and shifts hue in HSV, ~15x slower: 50-60 ms per AVSA
item; the YIQ rotation turns hue about the luma axis, so it keeps the luma of every pixel).
The horizontal flip mirrors the picture left <-> right; the crop's audio
must then be mirrored as well (ambiX Y -> -Y in the crop's frame, the mirror image azimuth
theta -> -theta): pass ``flip`` as ``mirror`` to
:func:`avsa_learn.data.crop_audio.crop_audio_features`. The reference implementation flipped
the picture only (a bug: left and right disagree in half the training crops).

>>> rng = np.random.default_rng(0)
>>> p = sample_augmentation(rng)
>>> x = apply_augmentation(to_float(torch.zeros(8, 3, 112, 112, dtype=torch.uint8)), p)
>>> normalize(x).shape
torch.Size([3, 8, 112, 112])
"""
from dataclasses import dataclass

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLIP_PROBABILITY = 0.5
# ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2) as in the reference.
BRIGHTNESS = CONTRAST = SATURATION = 0.4
HUE = 0.2

#: RGB -> YIQ (NTSC, FCC 1953 coefficients); row 0 is the luma Y used for grey.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
LUMA = RGB_TO_YIQ[0]


@dataclass(frozen=True)
class Augmentation:
    """One crop's augmentation: ``flip`` (mirror left <-> right), colour factors ``brightness``,
    ``contrast``, ``saturation`` (1 = unchanged), ``hue`` shift (fraction of a turn, 0 =
    unchanged) and ``order`` (the order the four colour ops are applied in, as ColorJitter)."""

    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    order: tuple = (0, 1, 2, 3)


IDENTITY = Augmentation()


def sample_augmentation(rng, flip=True, color_jitter=True):
    """Draw one crop's :class:`Augmentation`: flip with probability 0.5, brightness, contrast and
    saturation factors uniform in [0.6, 1.4], hue shift uniform in [-0.2, 0.2], random order.
    The same numbers are drawn whatever ``flip``/``color_jitter`` say (disabled parts are then
    reset to identity), so switching one off leaves every other random choice unchanged."""
    do_flip = rng.random() < FLIP_PROBABILITY
    b, c, s = rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS, 3)
    h = rng.uniform(-HUE, HUE)
    order = tuple(int(i) for i in rng.permutation(4))
    if not color_jitter:
        b, c, s, h, order = 1.0, 1.0, 1.0, 0.0, IDENTITY.order
    return Augmentation(bool(flip and do_flip), float(b), float(c), float(s), float(h), order)


def to_float(frames):
    """uint8 frames (..., 3, S, S) -> float32 in [0, 1] (the colour ops are cheaper on floats)."""
    return frames.to(torch.float32).div_(255.0)


def hue_matrix(hue):
    """3x3 RGB matrix turning hue by ``hue`` turns about the luma axis (a rotation of the
    I, Q chroma plane of YIQ by -2 pi hue; positive turns red toward yellow, as HSV's hue
    shift). Luma Y is unchanged; ``hue = 0`` is the identity, +-1/2 negates the chroma."""
    a = -2.0 * np.pi * float(hue)
    c, s = np.cos(a), np.sin(a)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return YIQ_TO_RGB @ rot @ RGB_TO_YIQ


def saturation_matrix(factor):
    """3x3 RGB matrix blending with grey: ``factor * rgb + (1 - factor) * Y`` (0 = grey)."""
    return factor * np.eye(3) + (1.0 - factor) * np.outer(np.ones(3), LUMA)


def color_transform(aug, mean_rgb):
    """The colour jitter of ``aug`` as one affine map per frame: (A (3, 3), b (T, 3)) with
    output ``A @ rgb + b[t]`` for frame t (before the final clip to [0, 1]).

    ``mean_rgb`` (T, 3): each frame's mean colour (only used by contrast, which blends every
    pixel with the mean luma of the frame *as it is at that point of the order*, like
    torchvision's ``adjust_contrast``). Brightness f: ``f * rgb``; contrast c:
    ``c * rgb + (1 - c) * mean luma``; saturation s: :func:`saturation_matrix`; hue:
    :func:`hue_matrix`; applied in ``aug.order`` (0 brightness, 1 contrast, 2 saturation, 3 hue).
    float64 numpy arrays."""
    mean_rgb = np.asarray(mean_rgb, dtype=np.float64).reshape(-1, 3)
    a = np.eye(3)
    b = np.zeros_like(mean_rgb)
    unchanged = (aug.brightness == 1.0, aug.contrast == 1.0, aug.saturation == 1.0,
                 aug.hue == 0.0)
    for op in aug.order:
        if unchanged[op]:
            continue
        if op == 0:
            m = aug.brightness * np.eye(3)
        elif op == 2:
            m = saturation_matrix(aug.saturation)
        elif op == 3:
            m = hue_matrix(aug.hue)
        else:   # contrast: affine, around the current mean luma of each frame
            mu = (mean_rgb @ a.T + b) @ LUMA                     # (T,)
            a, b = aug.contrast * a, aug.contrast * b + (1.0 - aug.contrast) * mu[:, None]
            continue
        a, b = m @ a, b @ m.T
    return a, b


def apply_augmentation(frames, aug):
    """Apply ``aug`` to one crop's frames, float32 (T, 3, S, S) in [0, 1] -> the same: the flip,
    then the colour jitter of :func:`color_transform` on all T frames in one matrix product,
    clipped to [0, 1]. No jitter returns the (flipped) frames unchanged."""
    if aug.flip:
        frames = frames.flip(-1)
    if (aug.brightness, aug.contrast, aug.saturation, aug.hue) == (1.0, 1.0, 1.0, 0.0):
        return frames
    mean = frames.mean(dim=(-2, -1)).double().numpy() if aug.contrast != 1.0 else np.zeros(
        (frames.shape[0], 3))
    a, b = color_transform(aug, mean)
    t, _, h, w = frames.shape
    flat = frames.reshape(t, 3, h * w)
    out = torch.matmul(torch.from_numpy(a.astype(np.float32)), flat)
    out += torch.from_numpy(b.astype(np.float32))[:, :, None]
    return out.clamp_(0.0, 1.0).reshape(t, 3, h, w)


def normalize(frames):
    """float32 frames (T, 3, S, S) in [0, 1] -> model input (3, T, S, S): ImageNet mean/std per
    colour channel."""
    x = frames.permute(1, 0, 2, 3).contiguous()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1, 1)
    return x.sub_(mean).div_(std)


def sample_gain(rng, jitter):
    """Audio gain factor uniform in [1 - jitter, 1 + jitter] (reference: x U(0.9, 1.1))."""
    return float(rng.uniform(1 - jitter, 1 + jitter))
