"""Training augmentation of video crops (flip, colour jitter), their normalisation, and the
audio gain jitter.

Parameters are drawn from a ``np.random.Generator`` (so a sample is deterministic in its seed)
and applied with ``torchvision.transforms.v2.functional`` to a crop's frames, the same for all
frames of one crop. The horizontal flip mirrors the picture left <-> right; the crop's audio
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

import torch
import torchvision.transforms.v2.functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLIP_PROBABILITY = 0.5
# ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2) as in the reference.
BRIGHTNESS = CONTRAST = SATURATION = 0.4
HUE = 0.2


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


def apply_augmentation(frames, aug):
    """Apply ``aug`` to one crop's frames, float32 (T, 3, S, S) in [0, 1] -> the same."""
    if aug.flip:
        frames = frames.flip(-1)
    ops = (lambda x: TF.adjust_brightness(x, aug.brightness),
           lambda x: TF.adjust_contrast(x, aug.contrast),
           lambda x: TF.adjust_saturation(x, aug.saturation),
           lambda x: TF.adjust_hue(x, aug.hue))
    identity = (aug.brightness == 1.0, aug.contrast == 1.0, aug.saturation == 1.0, aug.hue == 0.0)
    for i in aug.order:
        if not identity[i]:
            frames = ops[i](frames)
    return frames


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
