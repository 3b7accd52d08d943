"""The registries of stage backends, by name, with the built-in ones (core/stages.py has the protocols).

    enhancer "svd"         3DGS-Enhancer's video-diffusion restoration (core/enhance/backend.py)
    stylizer "clipstyler"  CLIPstyler + StylizedNeRF mutual learning (core/stylize/backend.py)

The job creates the backends its config names (`JobConfig.enhancer`, `JobConfig.stylizer`); the
Blender preferences list them. Factories import their backend only when a job is created, so this
module imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .stages import BackendInfo, Enhancer, Registry, Stylizer

if TYPE_CHECKING:  # pragma: no cover
    from .job_config import JobConfig

ENHANCERS = Registry("enhancer")
STYLIZERS = Registry("stylizer")


def _svd_enhancer(config: "JobConfig") -> Enhancer:
    from .enhance.backend import SvdEnhancer

    return SvdEnhancer(config)


def _clipstyler(config: "JobConfig") -> Stylizer:
    from .stylize.backend import ClipStyler

    return ClipStyler(config)


ENHANCERS.register(BackendInfo(
    "svd", "Video Diffusion (3DGS-Enhancer)",
    "Stable Video Diffusion restores each window between two reference views (3DGS-Enhancer)",
    _svd_enhancer, settings=("enhancer_source", "unet_source", "decoder_source")))
STYLIZERS.register(BackendInfo(
    "clipstyler", "CLIPstyler + Mutual Learning",
    "CLIP losses restyle the views; StylizedNeRF's 2D-3D mutual learning keeps the style 3D-consistent",
    _clipstyler, settings=("clip_model", "clip_pretrained", "vgg_source")))
