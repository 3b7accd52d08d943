"""Shared helpers for the enhancer tests (tiny real models)."""

from __future__ import annotations

import torch


def window(frames: int = 4, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth random window [frames, 3, H, W] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
