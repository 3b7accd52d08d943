"""The "svd" enhancer backend: 3DGS-Enhancer's video-diffusion restoration, window by window.

3DGS-Enhancer (Liu et al., NeurIPS 2024): each window {reference a, T rendered views, reference b}
of the trajectory is restored as a video interpolation between the two references by a Stable
Video Diffusion UNet (core/enhance/pipeline.py). Windows are independent given the frames and each
call is seeded (EnhancerConfig.seed), so the result does not depend on the order they run in, nor
on the worker that runs them: core/windows.py spreads them over devices or Ray actors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

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


class SvdEnhancer:
    """Stage 4 with an SVD-style UNet: loads its pipeline through the job's model cache."""

    def __init__(self, config: "JobConfig") -> None:
        self.settings = config.enhance
        self.models = config.models

    def check_available(self) -> None:
        self.models.check_enhancer_available()

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
                folder = self.prepare()
                sources, offline = EnhancerSources(base=ModelSource(str(folder)), variant=None), True
            return load_enhancer(sources, device=device, precision=self.settings.precision, offload=offload,
                                 progress=ctx.progress, offline=offline)

        return ctx.cache.get(self.cache_key(device), load)

    def prepare(self):
        """The tiny set's folder, saved once (before workers start, so that they do not race to
        save it); None for real weights."""
        if self.models.tiny:
            return ensure_tiny_enhancer(model_cache_dir() / "tiny", seed=self.models.seed)
        return None

    def process(self, pipeline: EnhancerPipeline, window: np.ndarray,  # [T+2, H, W, 3] float32
                ctx: StageContext) -> np.ndarray:  # [T, H, W, 3] float32: the enhanced novel views
        """One window (core/windows.py's worker side): seeded by EnhancerConfig.seed, so any
        worker on the same device type gives the same bits."""
        if not window.flags.writeable:  # Ray hands arrays over read-only, from its object store
            window = window.copy()
        x = torch.from_numpy(np.ascontiguousarray(window)).permute(0, 3, 1, 2)  # [T+2, 3, H, W]
        enhanced = pipeline(x, self.settings, device=ctx.device, progress=ctx.progress, cancel=ctx.cancel)
        return enhanced[1:-1].permute(0, 2, 3, 1).numpy()  # references stay as they were

    def enhance(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> np.ndarray:  # [V, H, W, 3] float32
        """Every window of the path, on one device, one worker per device, or Ray actors
        (core/windows.py chooses from ctx)."""
        self.prepare()
        indices = [list(window.indices) for window in trajectory.windows]
        enhanced = map_windows(self, [frames[idx] for idx in indices], ctx)
        out = frames.copy()
        for idx, novel in zip(indices, enhanced):
            out[idx[1:-1]] = novel
        return out
