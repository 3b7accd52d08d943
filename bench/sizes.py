"""The pipeline benchmark's problem sizes and the scene it runs on (bench/pipeline.py, bench/baselines.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene  # noqa: E402


@dataclass
class Size:
    gaussians: int  # Gaussians in the scene
    resolution: tuple[int, int]  # (width, height) of every view
    views: int  # novel views per segment (a window is views + 2 frames)
    references: int  # reference cameras
    steps: int  # diffusion steps per window
    refine_iterations: int
    baseline_iterations: int  # iterations timed for each training-step baseline
    full_models: bool  # SVD-xt-size enhancer models (random weights) instead of the tiny test ones


SIZES = {
    # 500k Gaussians, 2 segments x 23 views + 3 references ~ 50 views at 512 px: issue 10's target scene.
    "full": Size(500_000, (512, 512), 23, 3, 25, 3000, 50, full_models=True),
    "tiny": Size(2_000, (64, 48), 3, 3, 2, 20, 10, full_models=False),
}


def scene_and_cameras(size: Size):
    """The built-in sample scene (60% sphere, 40% ground) and its reference cameras at `size`."""
    sphere = int(size.gaussians * 0.6)
    config = SampleConfig(sphere_gaussians=sphere, ground_gaussians=size.gaussians - sphere,
                          reference_cameras=size.references, width=size.resolution[0], height=size.resolution[1])
    return sample_scene(config), sample_cameras(config)
