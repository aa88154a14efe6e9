"""Video encoders: (3, T, S, S) crops → a feature vector per crop.

``r2plus1d_18``: torchvision's R(2+1)D-18 (``weights=None``; nothing is downloaded) with the
classifier removed, 512-d (the paper / [17] encoder). ``small``: the same (2+1)D residual design
built from torchvision's blocks, with configurable widths and depth, for CPU runs.

Example::

    >>> enc = SmallR2Plus1D(widths=(8, 16), blocks=(1, 1))
    >>> import torch
    >>> enc(torch.zeros(2, 3, 4, 32, 32)).shape
    torch.Size([2, 16])
"""
from torch import nn
from torchvision.models.video import r2plus1d_18
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D


def _global_pool(pool):
    return nn.AdaptiveMaxPool3d(1) if pool == "max" else nn.AdaptiveAvgPool3d(1)


class R2Plus1D18(nn.Module):
    """torchvision R(2+1)D-18 without its fc: (B, 3, T, H, W) → (B, 512).

    ``pool`` "max" (as [17]) replaces torchvision's global average pool.
    """

    out_dim = 512

    def __init__(self, pool="max"):
        super().__init__()
        net = r2plus1d_18(weights=None)
        net.fc = nn.Identity()
        net.avgpool = _global_pool(pool)
        self.net = net

    def forward(self, x):
        return self.net(x)


class SmallR2Plus1D(nn.Module):
    """A width/depth-configurable (2+1)D ResNet: (B, 3, T, H, W) → (B, widths[-1]).

    Stem: (1,7,7) conv stride (1,2,2) then (3,1,1) conv; stage i has ``blocks[i]`` torchvision
    ``BasicBlock``s with ``widths[i]`` channels, stride 2 (time and space) from stage 2 on.
    """

    def __init__(self, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), pool="max"):
        super().__init__()
        w0 = widths[0]
        mid = max(8, (3 * w0 * 7 * 7 * 3) // (3 * 7 * 7 + 3 * w0))  # torchvision's stem rule
        self.stem = nn.Sequential(
            nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, w0, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(w0), nn.ReLU(inplace=True))
        layers, inplanes = [], w0
        for i, (width, n) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            for b in range(n):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or inplanes != width:
                    down = nn.Sequential(nn.Conv3d(inplanes, width, 1, stride=s, bias=False),
                                         nn.BatchNorm3d(width))
                layers.append(BasicBlock(inplanes, width, Conv2Plus1D, s, down))
                inplanes = width
        self.layers = nn.Sequential(*layers)
        self.pool = _global_pool(pool)
        self.out_dim = int(widths[-1])
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.pool(self.layers(self.stem(x))).flatten(1)


def build_video_encoder(model_cfg):
    """The video encoder named by ``model_cfg.video`` (:class:`avsa_learn.config.ModelConfig`)."""
    if model_cfg.video == "r2plus1d_18":
        return R2Plus1D18(pool=model_cfg.pool)
    return SmallR2Plus1D(tuple(model_cfg.video_widths), tuple(model_cfg.video_blocks),
                         pool=model_cfg.pool)

