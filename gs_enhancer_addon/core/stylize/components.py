"""Load what the stylization stage needs, as the config says: CLIP and the content-loss network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .clip_model import ClipModel, load_clip
from .config import StylizeConfig
from .trainer import ContentNet
from .vgg import load_vgg19


def load_components(
    config: StylizeConfig, device: str | torch.device = "cpu", offline: Optional[bool] = None,
    cache_dir: Optional[str | Path] = None,  # hub download folder (core.models.model_cache_dir)
) -> tuple[ClipModel, ContentNet]:
    """CLIP (frozen, fp16 on CUDA) and the content network: VGG-19 relu4_2/relu5_2 as in CLIPstyler,
    or, with `content_network="clip"`, CLIP's own ViT patch tokens (middle and last block), which
    needs no VGG download. Raises ModelNotAvailableError when weights are missing."""
    offline = config.offline if offline is None else offline
    clip = load_clip(config.clip, device, offline, cache_dir)
    if config.losses.content_network == "clip":
        return clip, clip.token_features
    return clip, load_vgg19(config.vgg, device, offline, cache_dir)
