"""The video enhancer's settings, torch-free: inference hyperparameters (3DGS-Enhancer; SVD defaults where
it inherits them) and where its weights come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..models import DEFAULT_ENHANCER_REPO, ModelSource

GuidanceRamp = Literal["linear", "triangle"]
Precision = Literal["auto", "float32", "float16", "bfloat16"]
Offload = Literal["none", "model"]
CfgMode = Literal["batched", "sequential"]



@dataclass
class EnhancerConfig:
    """One enhancement call; defaults follow SVD img2vid-xt and the 3DGS-Enhancer release."""

    num_inference_steps: int = 25  # Euler steps (SVD default 25)
    min_guidance_scale: float = 1.0  # classifier-free guidance at the frames next to the references
    max_guidance_scale: float = 3.0  # guidance at the frame farthest from the references (SVD: 3.0)
    guidance_ramp: GuidanceRamp = "triangle"  # "linear": SVD's first->last ramp; "triangle": low at both
    #   reference ends, max in the middle (our default: the window has a reference at each end)
    fps: int = 7  # SVD micro-conditioning; the UNet sees fps - 1, as SVD was trained
    motion_bucket_id: int = 127  # SVD micro-conditioning on the amount of motion
    noise_aug_strength: float = 0.02  # noise added to the conditioning frames before VAE encoding
    decode_chunk_size: int = 8  # frames decoded at once (smaller = less memory, see sizing notes)
    fusion_weight: float = 0.5  # CFW weight w (StableSR's fidelity/quality trade-off; 0 = base decoder)
    color_correction: bool = True  # match every generated frame's per-channel mean/std to reference a
    per_frame_clip: bool = True  # each frame's own CLIP embedding (3DGS-Enhancer); False: SVD's one embedding
    #   of reference a repeated for every frame (an ablation in docs/benchmarks.md)
    pose_conditioning: bool = True  # condition frames on their cameras when the window has them (pose.py);
    #   False: ignore the cameras (an ablation)
    max_pixels: int = 576 * 1024  # larger windows are downscaled to this area (SVD-xt's trained size)
    precision: Precision = "auto"  # "auto": bfloat16 on CUDA when supported, else float16; float32 on CPU
    offload: Offload = "none"  # "model": keep components on the CPU, move each to the GPU only while used
    cfg_mode: CfgMode = "batched"  # "sequential" runs the unconditional pass separately (half the activations)
    forward_chunking: bool = False  # UNet feed-forward chunking (less peak memory, a little slower)
    seed: int = 0  # initial noise seed (deterministic results)

    def __post_init__(self) -> None:
        from ..errors import InputError

        if self.num_inference_steps < 1:
            raise InputError("The number of enhancement steps must be at least 1.")
        if self.decode_chunk_size < 1:
            raise InputError("The decode chunk size must be at least 1 frame.")
        if self.min_guidance_scale < 0 or self.max_guidance_scale < self.min_guidance_scale:
            raise InputError("Guidance scales must satisfy 0 <= min <= max.")
        if self.max_pixels < 64 * 64:
            raise InputError("The maximum enhancement size must be at least 64 x 64 pixels.")


@dataclass
class EnhancerSources:
    """Where each component comes from. Overrides replace single components (e.g. a fine-tuned UNet)."""

    base: ModelSource = ModelSource(DEFAULT_ENHANCER_REPO)  # folder/repo with unet/ vae/ image_encoder/ ...
    unet: Optional[ModelSource] = None  # a fine-tuned UNet folder (train_enhancer's output/unet)
    decoder: Optional[ModelSource] = None  # a trained spatial-temporal decoder folder (train_decoder's output)
    variant: Optional[str] = "fp16"  # hub weight variant to download for the base repo (SVD ships fp16 files)
