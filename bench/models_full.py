"""SVD img2vid-xt-size enhancer models with random weights (their cost is real, no download).

Shared by bench/bench_enhancer.py, bench/pipeline.py (--size full) and bench/flops.py (on the
meta device).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gs_enhancer_addon.core.torchvision_compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()

from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler  # noqa: E402
from diffusers import UNetSpatioTemporalConditionModel  # noqa: E402
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection  # noqa: E402

from gs_enhancer_addon.core.enhance.components import SVD_SCHEDULER_CONFIG, pick_dtype  # noqa: E402
from gs_enhancer_addon.core.enhance.decoder import SpatialTemporalDecoder  # noqa: E402
from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline  # noqa: E402


def svd_xt_models() -> dict:
    """SVD img2vid-xt's architecture (diffusers defaults = SVD's configs) with random weights."""
    unet = UNetSpatioTemporalConditionModel(num_frames=25)  # 320/640/1280/1280, cross-attn 1024
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        layers_per_block=2, latent_channels=4, scaling_factor=0.18215,
    )
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(  # OpenCLIP ViT-H/14
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
        patch_size=14, image_size=224, projection_dim=1024, hidden_act="gelu",
    ))
    return dict(unet=unet, decoder=SpatialTemporalDecoder.from_vae(vae), image_encoder=clip.eval())


def svd_xt_components() -> dict:
    return dict(**svd_xt_models(), feature_extractor=CLIPImageProcessor(),
                scheduler=EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG))


def count_full_size_params() -> dict[str, float]:
    """Millions of parameters of each full-size model (built on the meta device: no memory)."""
    with torch.device("meta"):
        comps = svd_xt_models()
    return {k: sum(p.numel() for p in comps[k].parameters()) / 1e6 for k in ("unet", "decoder", "image_encoder")}


def full_size_enhancer(device: torch.device) -> EnhancerPipeline:
    """SVD-xt shapes, random weights, frozen, in the precision the add-on picks on `device`."""
    dtype = pick_dtype("auto", device)
    pipe = EnhancerPipeline(**svd_xt_components())
    for m in (pipe.unet, pipe.decoder, pipe.image_encoder):
        m.requires_grad_(False).to(device=device, dtype=dtype)
    return pipe
