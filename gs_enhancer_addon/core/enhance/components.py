"""Enhancer components: the tiny seeded builder (tests, offline demo) and the loader (real weights).

Public weights that work today (documented in README): the base SVD image-to-video repo for the
UNet, the temporal VAE, the CLIP image encoder + processor and the scheduler
(`DEFAULT_ENHANCER_REPO`, gated on the hub: accept the license and log in once), with a
zero-initialized CFW (the spatial-temporal decoder then equals SVD's temporal decoder). The
paper's fine-tuned UNet/decoder weights are not public; `train_enhancer`/`train_decoder` make them.

Loading: every component from a local folder in diffusers layout or a hub repo id, through
core/models.py with the exact file list of `enhancer_files()` (the same list is downloaded and
checked offline; safetensors only, no remote code). The spatial-temporal decoder comes from a
`decoder/` folder (our SpatialTemporalDecoder) when a local folder has one, else it is built from
`vae/` with zero-initialized CFW. Weights are loaded straight into the target dtype
(`torch_dtype`), without progress bars unless `verbose`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..models import DEFAULT_ENHANCER_REPO, ModelFiles, ModelSource, quiet_loading, resolve_model
from ..progress import ProgressFn, report, sub_progress
from ..torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

from diffusers import (  # noqa: E402
    AutoencoderKLTemporalDecoder,
    EulerDiscreteScheduler,
    UNetSpatioTemporalConditionModel,
)
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection  # noqa: E402

from .config import EnhancerSources  # noqa: E402
from .decoder import SpatialTemporalDecoder  # noqa: E402
from .pipeline import EnhancerPipeline  # noqa: E402
from .pose import POSE_FOLDER, load_pose_embedding  # noqa: E402

TINY_FOLDER_NAME = "tiny-enhancer-v1"

# SVD img2vid-xt's scheduler configuration (EDM sigmas, v-prediction, continuous timesteps).
SVD_SCHEDULER_CONFIG = dict(
    beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
    num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
    steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
)




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
    return _with_clip_and_scheduler(unet, vae, clip_width=32, clip_mlp=37, scheduler=SVD_SCHEDULER_CONFIG)


def _with_clip_and_scheduler(unet, vae, clip_width: int, clip_mlp: int, scheduler: dict) -> dict:
    """The pipeline components around a UNet and a VAE: a fresh 2-layer CLIP image encoder of
    `clip_width` (32 px crops, 8 px patches; created after the UNet and VAE, from the same seeded
    stream), its processor, the spatial-temporal decoder and an Euler scheduler."""
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=clip_width, projection_dim=clip_width, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, intermediate_size=clip_mlp,
    ))
    processor = CLIPImageProcessor(crop_size={"height": 32, "width": 32}, size={"shortest_edge": 32})
    return dict(
        unet=unet, decoder=SpatialTemporalDecoder.from_vae(vae), image_encoder=image_encoder.eval(),
        feature_extractor=processor, scheduler=EulerDiscreteScheduler(**scheduler),
    )


def small_components(seed: int = 0, num_frames: int = 12) -> dict:
    """The small set's architecture (issue 20), freshly initialised and seeded: what
    `scripts/enhancer_proof.py` trains from scratch on synthetic scenes (128 x 96 px frames).

    - VAE: 3 blocks (32, 64, 64 channels), 4x down-sampling, 16 latent channels (1.0M parameters),
      3x compression (SVD's 4 channels reconstructed held-out photos at 19.7 dB after 600 steps;
      these 16 reach 20.4 dB after 1,200: still the set's ceiling, docs/benchmarks.md);
    - UNet: 3 blocks (32, 64, 64), cross-attention and the mid block only at 1/8 and 1/16 of the
      frame (no attention at the largest latent size: CPU training cost), 3.2M parameters;
    - CLIP image encoder: 2 layers, 64 wide (the UNet's cross-attention width); it is never
      trained (SVD freezes its CLIP too), so here it is a fixed random feature of each frame;
    - scheduler: SVD's, with EDM's sigma_max of 80 (Karras et al. 2022) instead of SVD's 700 (chosen
      for 576 x 1024 latents): few-step sampling then starts where this model was trained.
    """
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=32, in_channels=32, out_channels=16, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                          "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                        "UpBlockSpatioTemporal"),
        addition_time_embed_dim=16, projection_class_embeddings_input_dim=48, layers_per_block=1,
        cross_attention_dim=64, num_attention_heads=(1, 2, 2), num_frames=num_frames,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 3, latent_channels=16,
        layers_per_block=1, sample_size=128,
    )
    return _with_clip_and_scheduler(unet, vae, clip_width=64, clip_mlp=128,
                                    scheduler={**SVD_SCHEDULER_CONFIG, "sigma_max": 80.0})


def ensure_tiny_enhancer(cache_dir: str | Path, seed: int = 0) -> Path:
    """Save the tiny components once under `cache_dir` and return that folder (diffusers layout)."""
    folder = Path(cache_dir) / f"{TINY_FOLDER_NAME}-seed{seed}"
    if (folder / "model_index.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))  # one per process: no race
    try:
        with quiet_loading():
            EnhancerPipeline(**dummy_components(seed)).save_pretrained(tmp)
        tmp.replace(folder)  # nothing half-written is left under the final name
    except OSError:
        if not (folder / "model_index.json").exists():
            raise
        # another process published the same seeded set first: use it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# Files of one diffusers/transformers component folder: its config and its one weights file.
_WEIGHTS_STEM = {"unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model",
                 "decoder": "diffusion_pytorch_model", "image_encoder": "model"}
# The pose embedding saved inside a UNet folder (core/enhance/pose.py); stock SVD has none.
POSE_FILES = (f"{POSE_FOLDER}/config.json", f"{POSE_FOLDER}/diffusion_pytorch_model.safetensors")
BASE_CONFIGS = ("model_index.json", "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json")


def component_files(component: str, variant: Optional[str], folder: str = "") -> tuple[str, str]:
    """(config, weights) of `component` inside `folder` ("" = the component folder itself)."""
    prefix = f"{folder}/" if folder else ""
    stem = _WEIGHTS_STEM[component] + (f".{variant}" if variant else "")
    return f"{prefix}config.json", f"{prefix}{stem}.safetensors"


@dataclass
class EnhancerFiles:
    """The exact files the enhancer loader opens from the base source, and each component's variant."""

    base: ModelFiles
    variants: dict  # component folder ("unet", "vae"/"decoder", "image_encoder") -> weight variant or None
    decoder_folder: str  # "decoder" (a folder saved by this add-on) or "vae" (SVD layout)


def _variant_in(folder: Optional[Path], component: str, variant: Optional[str], sub: str) -> Optional[str]:
    """Hub repos: the asked variant. Local folders: the variant when its file is there, else none."""
    if folder is None or variant is None:
        return variant
    return variant if (folder / component_files(component, variant, sub)[1]).is_file() else None


def enhancer_files(sources: EnhancerSources) -> EnhancerFiles:
    """Which files of `sources.base` the loader opens. For the default hub repo (SVD-xt, variant
    fp16): model_index.json, feature_extractor/preprocessor_config.json,
    scheduler/scheduler_config.json, and config.json + the fp16 safetensors of unet/, vae/ and
    image_encoder/ -- nothing else (not the fp32 files, not the root svd_xt*.safetensors)."""
    folder = sources.base.local_path
    decoder = "decoder" if folder is not None and (folder / "decoder").is_dir() else "vae"
    components = ["image_encoder"] + ([] if sources.unet else ["unet"]) + ([] if sources.decoder else [decoder])
    variants = {c: _variant_in(folder, c, sources.variant if c != "decoder" else None, c) for c in components}
    names = BASE_CONFIGS + tuple(f for c in components for f in component_files(c, variants[c], c))
    if "unet" in components and folder is not None and (folder / "unet" / POSE_FOLDER).is_dir():
        names += tuple(f"unet/{name}" for name in POSE_FILES)  # a base saved by us: its pose embedding too
    gated = sources.base.repo_id == DEFAULT_ENHANCER_REPO
    return EnhancerFiles(ModelFiles("the enhancer (Stable Video Diffusion)", names, gated), variants, decoder)


def override_files(component: str, source: ModelSource, variant: Optional[str]) -> tuple[ModelFiles, Optional[str]]:
    """Files of a single-component override folder (a fine-tuned UNet, a trained decoder). A
    fine-tuned UNet comes with its pose embedding (train-enhancer always writes it): both are needed."""
    variant = _variant_in(source.local_path, component, variant, "") if source.local_path else None
    what = {"unet": "the fine-tuned UNet", "decoder": "the spatial-temporal decoder"}[component]
    names = component_files(component, variant) + (POSE_FILES if component == "unet" else ())
    return ModelFiles(what, names), variant


def enhancer_requirements(sources: EnhancerSources) -> list[tuple[ModelSource, ModelFiles]]:
    """Every (source, files) the enhancer loader resolves: the base, then the overrides."""
    needs = [(sources.base, enhancer_files(sources).base)]
    for component in ("unet", "decoder"):
        source = getattr(sources, component)
        if source is not None:
            needs.append((source, override_files(component, source, sources.variant)[0]))
    return needs


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
    device: str | torch.device = "cpu",  # chosen by the caller (core.devices); never "auto" here
    precision: str = "auto",
    offload: bool = False,  # keep weights on the CPU (EnhancerConfig.offload="model" moves them per use)
    progress: Optional[ProgressFn] = None,
    offline: Optional[bool] = None,
    cache_dir: Optional[str | Path] = None,  # hub download folder (core.models.model_cache_dir)
    verbose: bool = False,  # show the libraries' loading progress bars
) -> EnhancerPipeline:
    """Build the pipeline from `sources` (see module doc); raises ModelNotAvailableError when a file
    is missing or damaged, before any weights are read."""
    device = torch.device(device)
    dtype = pick_dtype(precision, device)
    plan = enhancer_files(sources)
    base = resolve_model(sources.base, plan.base, cache_dir=cache_dir, progress=sub_progress(progress, 0.0, 0.8),
                         offline=offline)
    unet_dir, unet_variant = _component(sources, "unet", base, plan, cache_dir, offline)
    decoder_dir, decoder_variant = _component(sources, "decoder", base, plan, cache_dir, offline)
    report(progress, 0.85, "Loading the enhancer models")
    with quiet_loading(verbose):
        unet = UNetSpatioTemporalConditionModel.from_pretrained(
            unet_dir, use_safetensors=True, variant=unet_variant, torch_dtype=dtype)
        decoder = _load_decoder(decoder_dir, decoder_variant, plan.decoder_folder if sources.decoder is None
                                else "decoder", dtype)
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(
            base / "image_encoder", use_safetensors=True, variant=plan.variants["image_encoder"], dtype=dtype)
    processor = CLIPImageProcessor.from_pretrained(base / "feature_extractor")
    scheduler = EulerDiscreteScheduler.from_pretrained(base / "scheduler")
    pipe = EnhancerPipeline(unet=unet, decoder=decoder, image_encoder=image_encoder.eval(),
                            feature_extractor=processor, scheduler=scheduler,
                            pose_embedding=load_pose_embedding(unet_dir, unet).to(dtype=dtype))  # unet/pose_embedding/ or zero
    for module in (pipe.unet, pipe.decoder, pipe.image_encoder, pipe.pose_embedding):
        module.requires_grad_(False).to("cpu" if offload else device)  # device only: the dtype is already right
    report(progress, 1.0, "Enhancer models ready")
    return pipe


def _component(sources: EnhancerSources, component: str, base: Path, plan: EnhancerFiles, cache_dir,
               offline) -> tuple[Path, Optional[str]]:
    """(folder, variant) of the UNet or the decoder: the override source when set, else the base's."""
    override = getattr(sources, component)
    if override is None:
        folder = plan.decoder_folder if component == "decoder" else component
        return base / folder, plan.variants[folder]
    files, variant = override_files(component, override, sources.variant)
    return resolve_model(override, files, cache_dir=cache_dir, offline=offline), variant


def _load_decoder(folder: Path, variant: Optional[str], kind: str, dtype: torch.dtype) -> SpatialTemporalDecoder:
    """A saved SpatialTemporalDecoder (`kind` "decoder"), or SVD's temporal VAE with zero-initialized CFW."""
    if kind == "decoder":
        return SpatialTemporalDecoder.from_pretrained(folder, use_safetensors=True, variant=variant, torch_dtype=dtype)
    vae = AutoencoderKLTemporalDecoder.from_pretrained(folder, use_safetensors=True, variant=variant,
                                                       torch_dtype=torch.float32)
    # zero-initialized CFW: exactly SVD's decoder; eval() as from_pretrained gives (a new module is in train
    # mode, where diffusers' attention takes another kernel path: outputs differ in the last bits)
    decoder = SpatialTemporalDecoder.from_vae(vae).eval()
    # torch's own cast: diffusers' ModelMixin.to() only adds a "kept in float32" warning, and these
    # classes keep no module in float32.
    return torch.nn.Module.to(decoder, dtype=dtype)
