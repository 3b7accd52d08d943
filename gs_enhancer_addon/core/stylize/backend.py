"""The "clipstyler" stylizer backend: CLIPstyler's CLIP losses (Kwon & Ye, CVPR 2022) made
3D-consistent by StylizedNeRF's 2D-3D mutual learning (Huang et al., CVPR 2022); see mutual.py."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..model_cache import ModelKey
from ..models import model_cache_dir
from ..stages import StageContext
from .components import load_components
from .config import TINY_VGG_WIDTH_DIVISOR, ClipSpec, StylizeConfig, VggSpec
from .mutual import stylize_scene

if TYPE_CHECKING:  # pragma: no cover
    from ..gaussians import GaussianScene
    from ..job_config import JobConfig
    from ..trajectory import Trajectory


class ClipStyler:
    """Stage 5: trains a style network per prompt and fits the Gaussians to it, in turns."""

    def __init__(self, config: "JobConfig") -> None:
        self.models = config.models
        self.refine = config.refine  # the base settings of the fits inside mutual learning
        self.settings = self._with_model_specs(config.stylize)

    def check_available(self) -> None:
        self.models.check_available(self.settings, enhancer=False)

    def notes(self) -> list[str]:
        return self.models.notes()

    def load(self, ctx: StageContext):
        """(CLIP, content network) on ctx.device, from the cache or loaded into it."""
        name = f"tiny-seed{self.models.seed}" if self.models.tiny else repr((self.models.clip, self.models.vgg))
        key = ModelKey("clipstyler", (name, self.settings.losses.content_network), str(ctx.device), "")

        def load():
            if self.models.tiny:
                ensure_tiny_style_models(model_cache_dir(self.models.cache_dir) / "tiny", self.models.seed)
            return load_components(self.settings, ctx.device, cache_dir=self.models.cache_dir)

        return ctx.cache.get(key, load)

    def stylize(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> tuple["GaussianScene", np.ndarray]:
        clip, content_net = self.load(ctx)
        result = stylize_scene(scene, trajectory.cameras, list(frames), self.settings, clip, content_net,
                               refine_config=self.refine, confidences=trajectory.confidence.tolist(),
                               progress=ctx.progress, cancel=ctx.cancel, device=ctx.device)
        # f's outputs after mutual learning: the enhanced views restyled, pulled toward the 3D model.
        return result.scene, np.stack(result.final_2d).astype(np.float32)

    def _with_model_specs(self, settings: StylizeConfig) -> StylizeConfig:
        """The stage settings with the models the job's ModelsConfig names (tiny: the saved tiny set)."""
        if not self.models.tiny:
            return replace(settings, clip=self.models.clip, vgg=self.models.vgg, offline=self.models.offline)
        clip_dir, vgg_file = tiny_style_model_paths(model_cache_dir(self.models.cache_dir) / "tiny", self.models.seed)
        return replace(settings, clip=ClipSpec(model_name=str(clip_dir)),
                       vgg=VggSpec(source=str(vgg_file), width_divisor=TINY_VGG_WIDTH_DIVISOR), offline=True)


def tiny_style_model_paths(cache_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Where the tiny CLIP folder and VGG-19 file of `seed` live under `cache_dir`."""
    return cache_dir / f"tiny-clip-seed{seed}", cache_dir / f"tiny-vgg19-seed{seed}.safetensors"


def ensure_tiny_style_models(cache_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Save the tiny CLIP (open_clip folder) and narrow VGG-19 (safetensors) once; return their paths."""
    from safetensors.torch import save_file

    from .clip_model import TINY_CLIP_CONFIG, save_clip_folder, tiny_clip
    from .vgg import tiny_vgg19

    clip_dir, vgg_file = tiny_style_model_paths(cache_dir, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not (clip_dir / "open_clip_config.json").exists():
        _publish(clip_dir, lambda tmp: save_clip_folder(tiny_clip(seed), tmp, TINY_CLIP_CONFIG),
                 clip_dir / "open_clip_config.json")
    if not vgg_file.exists():
        state = {k: v.contiguous() for k, v in tiny_vgg19(seed).state_dict().items()}
        _publish(vgg_file, lambda tmp: save_file(state, str(tmp)), vgg_file)
    return clip_dir, vgg_file


def _publish(target: Path, write, done_marker: Path) -> None:
    """write(tmp) to a temporary of this process's own, then move it to `target`: nothing half-written
    under the final name, and two processes saving the same seeded model at once do not collide."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / target.name
    try:
        write(tmp)
        tmp.replace(target)
    except OSError:
        if not done_marker.exists():  # not just another process having published it first
            raise
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
