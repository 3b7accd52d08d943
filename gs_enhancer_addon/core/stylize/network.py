"""The lightweight style network f: a small residual U-Net with a sigmoid output (CLIPstyler).

Kwon & Ye, "CLIPstyler", CVPR 2022: f maps a content image to its stylized version and is trained
per prompt. Three strided downsamplings mean the input side must be a multiple of 8; `StyleUNet`
pads any image (replicate padding, at least 16 px so the bottleneck keeps more than one pixel for
instance normalization) and crops the result back to the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1), nn.InstanceNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, 1, 1), nn.InstanceNorm2d(cout), nn.ReLU(),
    )


class _Res(nn.Module):
    """Two 3x3 conv layers plus a 1x1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body, self.skip = _double_conv(cin, cout), nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block, self.down = _Res(cin, cout), nn.Conv2d(cout, cout, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.block(x)
        return self.down(skip), skip


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block = _Res(cin + cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))


class StyleUNet(nn.Module):
    """f: [B, 3, H, W] in [0, 1] -> stylized [B, 3, H, W] in (0, 1), any H and W."""

    def __init__(self, base_channels: int = 16):
        super().__init__()
        c = base_channels
        self.inp = nn.Sequential(nn.Conv2d(3, c, 1), _Res(c, c))
        self.down = nn.ModuleList([_Down(c, c), _Down(c, 2 * c), _Down(2 * c, 4 * c)])
        self.mid = _Res(4 * c, 8 * c)
        self.up = nn.ModuleList([_Up(8 * c, 4 * c), _Up(4 * c, 2 * c), _Up(2 * c, c)])
        self.out = nn.Sequential(_Res(2 * c, c), nn.Conv2d(c, 3, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        ph, pw = max(16, -(-h // 8) * 8) - h, max(16, -(-w // 8) * 8) - w
        x = F.pad(images, (0, pw, 0, ph), mode="replicate") if (ph or pw) else images
        x0 = self.inp(x)
        x, skips = x0, []
        for down in self.down:
            x, skip = down(x)
            skips.append(skip)
        x = self.mid(x)
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)
        x = self.out(torch.cat([x, x0], dim=1))
        return torch.sigmoid(x[..., :h, :w])
