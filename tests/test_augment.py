"""Colour jitter as affine RGB maps: closed forms (YIQ hue rotation keeps luma, saturation 0 is
grey, no jitter is the identity) and torchvision's brightness/contrast/saturation where nothing
clips."""
import itertools

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from avsa_learn.data.augment import (LUMA, RGB_TO_YIQ, Augmentation, apply_augmentation,
                                     color_transform, hue_matrix, sample_augmentation)


def mid_range_frames(t=3, size=8, seed=0):
    """float32 (T, 3, S, S) in [0.4, 0.6]: no factor in [0.6, 1.4] pushes these out of [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return 0.4 + 0.2 * torch.rand(t, 3, size, size, generator=g)


def yiq(frames):
    """(T, 3, S, S) RGB -> (T, 3, S, S) YIQ, float64 numpy."""
    return np.einsum("ij,tjhw->tihw", RGB_TO_YIQ, frames.double().numpy())


@pytest.mark.parametrize("hue", [0.05, -0.2, 0.5])
def test_hue_rotation_keeps_luma_and_turns_chroma(hue):
    x = mid_range_frames()
    y = apply_augmentation(x, Augmentation(hue=hue))
    a, b = yiq(x), yiq(y)
    np.testing.assert_allclose(b[:, 0], a[:, 0], atol=1e-6)          # luma unchanged
    za, zb = a[:, 1] + 1j * a[:, 2], b[:, 1] + 1j * b[:, 2]            # chroma I + iQ
    np.testing.assert_allclose(np.abs(zb), np.abs(za), atol=1e-5)
    turn = np.angle(zb / za) / (2 * np.pi)
    np.testing.assert_allclose(np.mod(turn + hue + 0.5, 1.0) - 0.5, 0.0, atol=1e-4)


def test_hue_direction_and_inverse():
    """+1/3 turn takes red to green (the direction of HSV's hue shift); h then -h = identity."""
    red = np.array([0.8, 0.2, 0.2])
    turned = hue_matrix(1 / 3) @ red
    assert np.argmax(turned) == 1
    np.testing.assert_allclose(hue_matrix(-0.13) @ hue_matrix(0.13), np.eye(3), atol=1e-12)
    # a small positive shift raises green first, as torchvision's HSV shift does
    small = hue_matrix(0.05) @ red
    hsv = TF.adjust_hue(torch.tensor(red, dtype=torch.float32).view(3, 1, 1), 0.05).flatten()
    assert small[1] > red[1] and float(hsv[1]) > red[1]


def test_no_jitter_is_identity_and_saturation_zero_is_grey():
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(apply_augmentation(x, Augmentation()), x)
    a, b = color_transform(Augmentation(), np.zeros((4, 3)))
    assert np.array_equal(a, np.eye(3)) and not b.any()
    grey = apply_augmentation(x, Augmentation(saturation=0.0))
    y = torch.einsum("j,tjhw->thw", torch.tensor(LUMA, dtype=torch.float32), x)
    for ch in range(3):
        torch.testing.assert_close(grey[:, ch], y, atol=1e-6, rtol=0)


def torchvision_jitter(x, aug):
    """Brightness, contrast, saturation in ``aug.order`` with torchvision (hue must be 0)."""
    ops = {0: lambda v: TF.adjust_brightness(v, aug.brightness),
           1: lambda v: TF.adjust_contrast(v, aug.contrast),
           2: lambda v: TF.adjust_saturation(v, aug.saturation)}
    for i in aug.order:
        if i in ops:
            x = ops[i](x)
    return x


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_brightness_contrast_saturation_match_torchvision(order):
    """Where nothing clips, the affine map equals torchvision's ops in the same order (luma
    weights 0.299/0.587/0.114 vs torchvision's 0.2989: within 1e-4)."""
    x = mid_range_frames(seed=len(order) + order[0])
    aug = Augmentation(brightness=1.3, contrast=0.7, saturation=1.35, hue=0.0, order=order)
    torch.testing.assert_close(apply_augmentation(x, aug), torchvision_jitter(x, aug),
                               atol=2e-4, rtol=0)


def test_contrast_is_per_frame_and_output_is_clipped():
    x = mid_range_frames(t=2)
    x[1] *= 0.5                                              # a darker second frame
    c = 0.6
    out = apply_augmentation(x, Augmentation(contrast=c))
    for t in range(2):
        mu = float(torch.einsum("j,jhw->", torch.tensor(LUMA, dtype=torch.float32), x[t])
                   / x[t, 0].numel())
        torch.testing.assert_close(out[t], c * x[t] + (1 - c) * mu, atol=1e-6, rtol=0)
    bright = apply_augmentation(torch.full((1, 3, 2, 2), 0.9), Augmentation(brightness=1.4))
    assert torch.equal(bright, torch.ones(1, 3, 2, 2))


def test_sampled_jitter_is_one_map_for_every_frame():
    rng = np.random.default_rng(3)
    aug = sample_augmentation(rng)
    x = mid_range_frames(t=1).repeat(5, 1, 1, 1)
    out = apply_augmentation(x, aug)
    assert all(torch.equal(out[0], out[t]) for t in range(5))
    assert not torch.allclose(out, x.flip(-1) if aug.flip else x)
