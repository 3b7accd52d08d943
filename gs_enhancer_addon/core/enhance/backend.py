"""The "svd" enhancer backend: 3DGS-Enhancer's video-diffusion restoration, window by window.

3DGS-Enhancer (Liu et al., NeurIPS 2024): each window {reference a, T rendered views, reference b}
of the trajectory is restored as a video interpolation between the two references by a Stable
Video Diffusion UNet (core/enhance/pipeline.py), conditioned on each frame's camera pose. Windows
are independent given the frames and each call is seeded (EnhancerConfig.seed), so the result does
not depend on the order they run in, nor on the worker that runs them: core/windows.py spreads
them over devices or Ray actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from ..cameras import Camera
from ..model_cache import ModelKey
from ..models import ModelSource, model_cache_dir
from ..stages import StageContext
from ..windows import map_windows
from .components import ensure_tiny_enhancer, load_enhancer, pick_dtype
from .config import EnhancerSources
from .pipeline import EnhancerPipeline

if TYPE_CHECKING:  # pragma: no cover
    from ..gaussians import GaussianScene
    from ..job_config import JobConfig
    from ..trajectory import Trajectory


@dataclass
class WindowPayload:
    """One unit of work, as it travels to a worker (a thread or a Ray actor)."""

    frames: np.ndarray  # [T+2, H, W, 3] float32: reference a, T renders, reference b
    cameras: list[Camera]  # one per frame: the pose conditioning


class SvdEnhancer:
    """Stage 4 with an SVD-style UNet: loads its pipeline through the job's model cache."""

    def __init__(self, config: "JobConfig") -> None:
        self.settings = config.enhance
        self.models = config.models

    def check_available(self) -> None:
        self.models.check_available()

    def notes(self) -> list[str]:
        return self.models.notes()

    def cache_key(self, device: torch.device) -> ModelKey:
        """The key this backend's pipeline has in a ModelCache (benchmarks put prebuilt ones there)."""
        name = f"tiny-seed{self.models.seed}" if self.models.tiny else repr(self.models.enhancer)
        if self.settings.offload == "model":
            name += " offload"
        return ModelKey("svd", name, str(device), str(pick_dtype(self.settings.precision, device)).removeprefix("torch."))

    def load(self, ctx: StageContext) -> EnhancerPipeline:
        """The pipeline for ctx.device, from the cache or loaded into it (loading reports to
        ctx.progress). With offload="model" its weights stay on the CPU and move to the GPU one
        component at a time (pipeline.py)."""
        device, offload = ctx.device, self.settings.offload == "model"

        def load() -> EnhancerPipeline:
            sources, offline = self.models.enhancer, self.models.offline
            if self.models.tiny:  # saved once, then loaded through the same code as real weights
                sources, offline = EnhancerSources(base=ModelSource(str(self.prepare())), variant=None), True
            return load_enhancer(sources, device=device, precision=self.settings.precision, offload=offload,
                                 progress=ctx.progress, offline=offline, cache_dir=self.models.cache_dir)

        return ctx.cache.get(self.cache_key(device), load)

    def prepare(self) -> Optional[Path]:
        """The tiny set's folder, saved once (before workers start, so that they do not race to
        save it); None for real weights."""
        if self.models.tiny:
            return ensure_tiny_enhancer(model_cache_dir(self.models.cache_dir) / "tiny", seed=self.models.seed)
        return None

    def process(self, pipeline: EnhancerPipeline, window: WindowPayload,
                ctx: StageContext) -> np.ndarray:  # [T, H, W, 3] float32: the enhanced novel views
        """One window (core/windows.py's worker side): seeded by EnhancerConfig.seed, so any
        worker on the same device type gives the same bits."""
        frames = window.frames if window.frames.flags.writeable else window.frames.copy()  # Ray's are read-only
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # [T+2, 3, H, W]
        enhanced = pipeline(x, self.settings, device=ctx.device, progress=ctx.progress, cancel=ctx.cancel,
                            cameras=window.cameras)
        return enhanced[1:-1].permute(0, 2, 3, 1).numpy()  # references stay as they were

    def enhance(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> np.ndarray:  # [V, H, W, 3] float32
        """Every window of the path, on one device, one worker per device, or Ray actors
        (core/windows.py chooses from ctx)."""
        self.prepare()
        indices = [list(window.indices) for window in trajectory.windows]
        windows = [WindowPayload(frames[idx], [trajectory.cameras[i] for i in idx]) for idx in indices]
        out = frames.copy()
        for idx, novel in zip(indices, map_windows(self, windows, ctx)):
            out[idx[1:-1]] = novel
        return out
