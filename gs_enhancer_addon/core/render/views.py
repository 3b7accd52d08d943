"""Render a GaussianScene from many cameras without gradients (previews, targets, evaluation)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ..cameras import Camera
from ..gaussians import GaussianScene
from ..progress import CancelFn, ProgressFn, check_cancel, report
from .api import render


def render_views(
    scene: GaussianScene,
    cameras: Sequence[Camera],  # all the same size
    device: str | torch.device,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    batch: int = 8,  # cameras per render call: bounded memory
) -> Tensor:  # [V, H, W, 3] float32 in [0, 1], on `device`
    gaussians = scene.to_torch(device)
    frames = []
    with torch.no_grad():
        for start in range(0, len(cameras), batch):
            check_cancel(cancel)
            frames.append(render(gaussians, cameras[start:start + batch]).rgb.clamp(0, 1).float())
            done = min(start + batch, len(cameras))
            report(progress, done / len(cameras), f"{done}/{len(cameras)} views")
    return torch.cat(frames, dim=0)
