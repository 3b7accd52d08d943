"""Tiny seeded components for tests, the offline demo and the consistency benchmark.

`tiny_components` gives a real open_clip ViT and a narrow VGG-19 with random weights (no
downloads); `tiny_scene` a small textured Gaussian cluster with look-at cameras on an arc.
Numbers measured with them show the machinery, not the quality of real CLIP/VGG weights.
"""

from __future__ import annotations

import numpy as np

from ..cameras import Camera, look_at
from ..gaussians import SH_C0, GaussianScene
from .clip_model import ClipModel, tiny_clip
from .vgg import VGG19Features, tiny_vgg19


def tiny_components(seed: int = 0, device: str = "cpu") -> tuple[ClipModel, VGG19Features]:
    return tiny_clip(seed, device), tiny_vgg19(seed).to(device)


def look_at_camera(eye, target, size: int, fov_deg: float = 50.0, name: str = "") -> Camera:
    """Square `size` px camera at `eye` looking at `target`, world +Z up."""
    f = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    return Camera(K=K, world_to_cam=look_at(eye, target), width=size, height=size, name=name)


def arc_cameras(count: int, size: int = 32, radius: float = 3.0, span_deg: float = 70.0) -> list[Camera]:
    """`count` cameras on a horizontal arc around the origin, slightly above it, looking at it."""
    angles = np.radians(np.linspace(-span_deg / 2, span_deg / 2, count))
    return [look_at_camera([radius * np.sin(a), -radius * np.cos(a), 0.8], [0, 0, 0], size, name=f"view{i:02d}")
            for i, a in enumerate(angles)]


def tiny_scene(count: int = 600, seed: int = 0) -> GaussianScene:
    """A colourful Gaussian blob: a checker-coloured sphere shell plus a ground plane."""
    rng = np.random.default_rng(seed)
    shell = rng.normal(size=(count // 2, 3))
    shell = 0.8 * shell / np.linalg.norm(shell, axis=1, keepdims=True)
    ground = np.column_stack([rng.uniform(-1.5, 1.5, (count - count // 2, 2)), np.full(count - count // 2, -0.8)])
    means = np.concatenate([shell, ground]).astype(np.float32)
    checker = (np.floor(means[:, 0] * 3) + np.floor(means[:, 1] * 3) + np.floor(means[:, 2] * 3)) % 2
    rgb = np.where(checker[:, None] > 0, [0.9, 0.5, 0.2], [0.2, 0.4, 0.8]) + rng.normal(0, 0.05, (count, 3))
    sh = ((np.clip(rgb, 0.02, 0.98) - 0.5) / SH_C0).astype(np.float32)[:, None, :]
    quats = np.tile(np.array([1, 0, 0, 0], np.float32), (count, 1))
    log_scales = np.full((count, 3), np.log(0.09), np.float32)
    opacity = np.full(count, 2.0, np.float32)
    return GaussianScene(means, quats, log_scales, opacity, sh)
