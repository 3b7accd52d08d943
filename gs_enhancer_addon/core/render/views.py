"""Render a GaussianScene from many cameras without gradients (previews, targets, evaluation)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..cameras import Camera
from ..gaussians import GaussianScene
from ..progress import CancelFn, ProgressFn, check_cancel, report
from .api import render
from .settings import RenderSettings


def render_views(
    scene: GaussianScene,
    cameras: Sequence[Camera],  # all the same size
    device: str | torch.device,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    batch: int = 8,  # cameras per render call: bounded memory
    settings: Optional[RenderSettings] = None,
) -> Tensor:  # [V, H, W, 3] float32 in [0, 1], on `device`
    gaussians = scene.to_torch(device)
    frames = []
    with torch.no_grad():
        for start in range(0, len(cameras), batch):
            check_cancel(cancel)
            frames.append(render(gaussians, cameras[start:start + batch], settings=settings).rgb.clamp(0, 1).float())
            done = min(start + batch, len(cameras))
            report(progress, done / len(cameras), f"{done}/{len(cameras)} views")
    return torch.cat(frames, dim=0)


# Adapters, named after the layout they return.
def render_views_numpy(scene: GaussianScene, cameras: Sequence[Camera], device: str | torch.device,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                       settings: Optional[RenderSettings] = None) -> np.ndarray:
    """render_views as numpy [V, H, W, 3] float32 on the CPU (the job's frames)."""
    return render_views(scene, cameras, device, progress, cancel, settings=settings).cpu().numpy()


def render_views_chw(scene: GaussianScene, cameras: Sequence[Camera], device: str | torch.device,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                     settings: Optional[RenderSettings] = None) -> list[Tensor]:
    """render_views as V x [3, H, W] tensors on `device` (the style network's layout)."""
    return list(render_views(scene, cameras, device, progress, cancel, settings=settings).permute(0, 3, 1, 2))
