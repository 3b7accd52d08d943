"""Enhancer components: the tiny seeded builder (tests, offline demo) and the loader (real weights).

Public weights that work today (documented in README): the base SVD image-to-video repo for the
UNet, the temporal VAE, the CLIP image encoder + processor and the scheduler
(`DEFAULT_BASE_REPO`, gated on the hub: accept the license and log in once), with a
zero-initialized CFW (the spatial-temporal decoder then equals SVD's temporal decoder). The
paper's fine-tuned UNet/decoder weights are not public; `train_enhancer`/`train_decoder` make them.

Loading: every component from a local folder in diffusers layout or a hub repo id (core/models.py:
offline-aware, safetensors only, no remote code). The spatial-temporal decoder comes from a
`decoder/` folder (our SpatialTemporalDecoder) when present, else it is built from `vae/` with
zero-initialized CFW.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..devices import resolve_device
from ..errors import ModelNotAvailableError
from ..models import CONFIG_PATTERNS, ModelSource, require_files, resolve_model_source
from ..progress import ProgressFn, report, sub_progress
from ..torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

from diffusers import (  # noqa: E402
    AutoencoderKLTemporalDecoder,
    EulerDiscreteScheduler,
    UNetSpatioTemporalConditionModel,
)
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection  # noqa: E402

from .decoder import SpatialTemporalDecoder  # noqa: E402
from .pipeline import EnhancerPipeline  # noqa: E402
from .pose import load_pose_embedding  # noqa: E402

DEFAULT_BASE_REPO = "stabilityai/stable-video-diffusion-img2vid-xt"  # UNet, VAE, CLIP, scheduler (25 frames)
TINY_FOLDER_NAME = "tiny-enhancer-v1"

# SVD img2vid-xt's scheduler configuration (EDM sigmas, v-prediction, continuous timesteps).
SVD_SCHEDULER_CONFIG = dict(
    beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
    num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
    steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
)


def _weight_patterns(variant: Optional[str]) -> tuple[str, ...]:
    return (f"*.{variant}.safetensors",) if variant else ("*.safetensors",)


@dataclass
class EnhancerSources:
    """Where each component comes from. Overrides replace single components (e.g. a fine-tuned UNet)."""

    base: ModelSource = ModelSource(DEFAULT_BASE_REPO)  # folder/repo with unet/ vae/ image_encoder/ ...
    unet: Optional[ModelSource] = None  # a fine-tuned UNet folder (train_enhancer's output/unet)
    decoder: Optional[ModelSource] = None  # a trained spatial-temporal decoder folder (train_decoder's output)
    variant: Optional[str] = "fp16"  # hub weight variant to download for the base repo (SVD ships fp16 files)


def dummy_components(seed: int = 0, num_frames: int = 4) -> dict:
    """Tiny seeded real components (UNet ~1M params, VAE, CLIP): 32 px frames, 2-4 frames, 2 steps."""
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=16, in_channels=8, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=24, layers_per_block=1,
        cross_attention_dim=32, num_attention_heads=(2, 4), num_frames=num_frames,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, latent_channels=4,
        layers_per_block=1, sample_size=32,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        patch_size=8, intermediate_size=37,
    ))
    processor = CLIPImageProcessor(crop_size={"height": 32, "width": 32}, size={"shortest_edge": 32})
    return dict(
        unet=unet, decoder=SpatialTemporalDecoder.from_vae(vae), image_encoder=image_encoder.eval(),
        feature_extractor=processor, scheduler=EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG),
    )


def ensure_tiny_enhancer(cache_dir: str | Path, seed: int = 0) -> Path:
    """Save the tiny components once under `cache_dir` and return that folder (diffusers layout)."""
    folder = Path(cache_dir) / f"{TINY_FOLDER_NAME}-seed{seed}"
    if (folder / "model_index.json").exists():
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    EnhancerPipeline(**dummy_components(seed)).save_pretrained(tmp)
    tmp.replace(folder)  # nothing half-written is left under the final name
    return folder


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """"auto": bfloat16 on CUDA when supported, else float16; float32 off CUDA."""
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[precision]


def load_enhancer(
    sources: EnhancerSources,
    *,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    offload: bool = False,  # keep weights on the CPU (EnhancerConfig.offload="model" moves them per use)
    progress: Optional[ProgressFn] = None,
    offline: Optional[bool] = None,
) -> EnhancerPipeline:
    """Build the pipeline from `sources` (see module doc); raises ModelNotAvailableError when missing."""
    device = resolve_device(device)
    dtype = pick_dtype(precision, device)
    base = resolve_enhancer_base(sources, sub_progress(progress, 0.0, 0.8), offline)
    unet_dir = _component_dir(sources.unet, base / "unet", offline)
    require_files(unet_dir, ["config.json", "*.safetensors"], "The UNet")
    report(progress, 0.85, "Loading the enhancer models")
    unet = UNetSpatioTemporalConditionModel.from_pretrained(unet_dir, use_safetensors=True,
                                                            **_variant_kwargs(unet_dir, sources.variant))
    decoder = _load_decoder(sources, base, offline)
    enc_dir = base / "image_encoder"
    require_files(enc_dir, ["config.json", "*.safetensors"], "The CLIP image encoder")
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(
        enc_dir, use_safetensors=True, **_variant_kwargs(enc_dir, sources.variant))
    require_files(base, ["feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json"],
                  "The enhancer folder")
    processor = CLIPImageProcessor.from_pretrained(base / "feature_extractor")
    scheduler = EulerDiscreteScheduler.from_pretrained(base / "scheduler")
    pipe = EnhancerPipeline(unet=unet, decoder=decoder, image_encoder=image_encoder.eval(),
                            feature_extractor=processor, scheduler=scheduler,
                            pose_embedding=load_pose_embedding(unet_dir, unet))  # unet/pose_embedding/ or zero
    for module in (pipe.unet, pipe.decoder, pipe.image_encoder, pipe.pose_embedding):
        module.requires_grad_(False).to(device="cpu" if offload else device, dtype=dtype)
    report(progress, 1.0, "Enhancer models ready")
    return pipe


def resolve_enhancer_base(sources: EnhancerSources, progress, offline) -> Path:
    """The base folder (diffusers layout), downloading the needed configs and weights if allowed."""
    patterns = CONFIG_PATTERNS + _weight_patterns(sources.variant if sources.base.repo_id else None)
    base = resolve_model_source(sources.base, allow_patterns=list(patterns), progress=progress, offline=offline)
    if not (base / "scheduler").exists():
        raise ModelNotAvailableError(f"{base} is not an enhancer/SVD folder (no scheduler/ subfolder).")
    return base


def _component_dir(source: Optional[ModelSource], default: Path, offline) -> Path:
    if source is None:
        return default
    return resolve_model_source(source, offline=offline)


def _variant_kwargs(folder: Path, variant: Optional[str]) -> dict:
    """Use the variant's files when the folder has them (hub SVD: fp16), else the plain ones."""
    if variant and any(folder.glob(f"*.{variant}.safetensors")):
        return {"variant": variant}
    return {}


def _load_decoder(sources: EnhancerSources, base: Path, offline) -> SpatialTemporalDecoder:
    folder = _component_dir(sources.decoder, base / "decoder", offline)
    if folder.exists():
        require_files(folder, ["config.json", "*.safetensors"], "The spatial-temporal decoder")
        return SpatialTemporalDecoder.from_pretrained(folder, use_safetensors=True)
    vae_dir = base / "vae"
    require_files(vae_dir, ["config.json", "*.safetensors"], "The temporal VAE")
    vae = AutoencoderKLTemporalDecoder.from_pretrained(vae_dir, use_safetensors=True,
                                                       **_variant_kwargs(vae_dir, sources.variant))
    return SpatialTemporalDecoder.from_vae(vae)  # zero-initialized CFW: exactly SVD's decoder
