"""The 9-layer VGG-like audio CNN of [17]: (C, frames, mel bands) features → a feature vector.

Every conv is bias-free + BatchNorm + ReLU, no residuals; with ``width`` w the channels are
w → w, w → 2w, 2w → 4w, 4w → 8w (paper: w = 64, 512-d), strides 2 at convs 1, 4, 6; global max
(or average) pool. For a 4×100×128 input the feature maps are 64×50×64 → 128×25×32 →
256×13×16 → 512×13×16 (facts file).

Example::

    >>> import torch
    >>> AudioCNN(in_channels=4, width=8)(torch.zeros(2, 4, 100, 64)).shape
    torch.Size([2, 64])
"""
from torch import nn


def _conv(cin, cout, k=3, stride=1):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class AudioCNN(nn.Module):
    """(B, in_channels, F, M) → (B, 8 * width). ``in_channels`` = ``DataConfig.audio_channels``."""

    def __init__(self, in_channels=4, width=64, pool="max"):
        super().__init__()
        w = width
        self.stages = nn.ModuleList([
            nn.Sequential(*_conv(in_channels, w, 7, 2), *_conv(w, w), *_conv(w, w)),
            nn.Sequential(*_conv(w, 2 * w, 3, 2), *_conv(2 * w, 2 * w)),
            nn.Sequential(*_conv(2 * w, 4 * w, 3, 2), *_conv(4 * w, 4 * w)),
            nn.Sequential(*_conv(4 * w, 8 * w), *_conv(8 * w, 8 * w)),
        ])
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.out_dim = 8 * w
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def feature_maps(self, x):
        """The output of each of the 4 stages (for inspection and tests)."""
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.pool(x).flatten(1)
