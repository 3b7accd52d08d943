"""The "svd" enhancer backend: 3DGS-Enhancer's video-diffusion restoration, window by window.

3DGS-Enhancer (Liu et al., NeurIPS 2024): each window {reference a, T rendered views, reference b}
of the trajectory is restored as a video interpolation between the two references by a Stable
Video Diffusion UNet (core/enhance/pipeline.py). Windows are independent given the frames and each
call is seeded (EnhancerConfig.seed), so the result does not depend on the order they run in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..model_cache import ModelKey
from ..models import ModelSource, model_cache_dir
from ..progress import sub_progress
from ..stages import StageContext
from .components import ensure_tiny_enhancer, load_enhancer, pick_dtype
from .config import EnhancerSources
from .pipeline import EnhancerPipeline

if TYPE_CHECKING:  # pragma: no cover
    from ..gaussians import GaussianScene
    from ..job_config import JobConfig
    from ..trajectory import Trajectory


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

    def load(self, ctx: StageContext, progress=None) -> EnhancerPipeline:
        """The pipeline for ctx.device, from the cache or loaded into it. With offload="model" its
        weights stay on the CPU and move to the GPU one component at a time (pipeline.py)."""
        device, offload = ctx.device, self.settings.offload == "model"

        def load() -> EnhancerPipeline:
            sources, offline = self.models.enhancer, self.models.offline
            if self.models.tiny:  # saved once, then loaded through the same code as real weights
                folder = ensure_tiny_enhancer(model_cache_dir(self.models.cache_dir) / "tiny", seed=self.models.seed)
                sources, offline = EnhancerSources(base=ModelSource(str(folder)), variant=None), True
            return load_enhancer(sources, device=device, precision=self.settings.precision, offload=offload,
                                 progress=progress, offline=offline, cache_dir=self.models.cache_dir)

        return ctx.cache.get(self.cache_key(device), load)

    def enhance(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> np.ndarray:  # [V, H, W, 3] float32
        pipeline = self.load(ctx, sub_progress(ctx.progress, 0.0, 0.1))
        windows = trajectory.windows
        out = frames.copy()
        for w, window in enumerate(windows):
            idx = list(window.indices)
            x = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2)  # [T+2, 3, H, W]
            progress = sub_progress(ctx.progress, 0.1 + 0.9 * w / len(windows), 0.1 + 0.9 * (w + 1) / len(windows),
                                    prefix=f"window {w + 1}/{len(windows)}")
            enhanced = pipeline(x, self.settings, device=ctx.device, progress=progress, cancel=ctx.cancel,
                                cameras=[trajectory.cameras[i] for i in idx])  # pose conditioning
            out[idx[1:-1]] = enhanced[1:-1].permute(0, 2, 3, 1).numpy()  # references stay as they were
        return out
