"""Shared helpers for the enhancer tests (tiny real models, one CPU thread)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run ~8x faster on one thread on the shared 2-core test machines."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def window(frames: int = 4, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth random window [frames, 3, H, W] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
