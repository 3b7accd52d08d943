"""Per-frame conditioning of the SVD UNet (3DGS-Enhancer, Sec. 3.2).

Stock SVD conditions every frame on ONE image: its CLIP embedding is repeated over the frames.
3DGS-Enhancer conditions each frame on its own view: frame f's spatial cross-attention sees the
CLIP embedding of frame f, and frame f's VAE latent is concatenated channel-wise with its noisy
latent. The real `UNetSpatioTemporalConditionModel` is used unchanged: `FrameConditioning` swaps the
per-frame embeddings into the UNet's blocks (permanent forward pre-hooks reading one slot), exactly
where the stock forward passes its repeated [B*F, 1, D] tensor; the same hooks add the per-frame
pose embedding (pose.py) to each block's time embedding. The temporal
attention layers keep the stock behaviour (they read the first frame's context: reference a).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import GuidanceRamp


def clip_pixels(
    frames: Tensor,  # [F, 3, H, W] in [0, 1]
    image_size: int,  # the CLIP vision tower's input size (224 for SVD's ViT-H/14)
    mean: list[float],  # the CLIPImageProcessor's image_mean
    std: list[float],  # the CLIPImageProcessor's image_std
) -> Tensor:  # [F, 3, image_size, image_size]
    """Antialiased resize + CLIP normalization, frame by frame (what SVD's _encode_image does)."""
    resized = F.interpolate(frames.float(), size=(image_size, image_size), mode="bicubic", antialias=True)
    resized = resized.clamp(0.0, 1.0)
    mean_t = torch.tensor(mean, device=frames.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=frames.device).view(1, 3, 1, 1)
    return (resized - mean_t) / std_t


def processor_settings(feature_extractor) -> tuple[int, list[float], list[float]]:
    """(input size, mean, std) from a CLIPImageProcessor."""
    crop = feature_extractor.crop_size
    size = getattr(crop, "height", None) or (crop["height"] if isinstance(crop, dict) else int(crop))
    return size, list(feature_extractor.image_mean), list(feature_extractor.image_std)


def encode_frames_clip(
    image_encoder,  # transformers CLIPVisionModelWithProjection
    feature_extractor,  # transformers CLIPImageProcessor
    frames: Tensor,  # [F, 3, H, W] in [0, 1]
) -> Tensor:  # [F, 1, D] one CLIP image embedding per frame
    """CLIP image embedding of every frame (not one image repeated)."""
    size, mean, std = processor_settings(feature_extractor)
    param = next(image_encoder.parameters())
    pixels = clip_pixels(frames.to(param.device), size, mean, std).to(param.dtype)
    return image_encoder(pixels).image_embeds.unsqueeze(1)


class FrameConditioning:
    """Per-frame conditioning of one UNet through PERMANENT forward pre-hooks that read one slot.

    The hooks are registered once per UNet (`FrameConditioning.of(unet)`), so a compiled UNet
    sees the same module graph on every call (issue: hooks added and removed per call would make
    torch.compile re-trace). Each call fills the slot (`holding`) and empties it afterwards; with
    an empty slot the hooks change nothing and the UNet is stock SVD. What the slot holds:
    - `cross_attention` [B * F, 1, D]: replaces the repeated [B*F, 1, D] CLIP context that the
      stock forward hands every cross-attending block (the mid block always cross-attends);
    - `time_offset` [B * F, D_t] or None: added to the per-frame time embedding `temb` every block
      receives (the pose embedding, pose.py).
    """

    _ATTRIBUTE = "_gs_frame_conditioning"

    def __init__(self, unet):
        self.cross_attention: Optional[Tensor] = None
        self.time_offset: Optional[Tensor] = None
        blocks = dict.fromkeys([*unet.down_blocks, unet.mid_block, *unet.up_blocks])
        for block in blocks:
            block.register_forward_pre_hook(self._pre_hook, with_kwargs=True)

    @classmethod
    def of(cls, unet) -> "FrameConditioning":
        """The UNet's conditioning slot; its hooks are registered on first use and stay. A compiled
        UNet (torch.compile's wrapper) shares the slot of the module it wraps."""
        unet = getattr(unet, "_orig_mod", unet)
        attached = unet.__dict__.get(cls._ATTRIBUTE)
        if attached is None:
            attached = cls(unet)
            object.__setattr__(unet, cls._ATTRIBUTE, attached)
        return attached

    @contextmanager
    def holding(self, cross_attention: Tensor, time_offset: Optional[Tensor] = None) -> Iterator[None]:
        self.cross_attention, self.time_offset = cross_attention, time_offset
        try:
            yield
        finally:
            self.cross_attention = self.time_offset = None

    def _pre_hook(self, module, args, kwargs):
        context = self.cross_attention
        if context is not None and "encoder_hidden_states" in kwargs:
            current = kwargs["encoder_hidden_states"]
            if current is not None and current.shape[0] != context.shape[0]:
                raise ValueError(f"per-frame embeddings for {context.shape[0]} frames, UNet runs {current.shape[0]}")
            kwargs["encoder_hidden_states"] = context.to(current.dtype if current is not None else context.dtype)
        if self.time_offset is not None and kwargs.get("temb") is not None:
            kwargs["temb"] = kwargs["temb"] + self.time_offset.to(kwargs["temb"].dtype)
        return args, kwargs


def run_unet(
    unet,  # UNetSpatioTemporalConditionModel
    model_input: Tensor,  # [B, F, 2 * C_latent, h, w] scaled noisy latents ++ conditioning latents
    timestep: Tensor,  # scalar or [B] (SVD: 0.25 * log(sigma))
    embeddings: Tensor,  # [B, F, 1, D] per-frame CLIP embeddings
    added_time_ids: Tensor,  # [B, 3] fps - 1, motion bucket, noise augmentation
    time_offset: Optional[Tensor] = None,  # [B * F, D_t] per-frame pose embedding (pose.py); None = none
) -> Tensor:  # [B, F, C_latent, h, w]
    """One UNet evaluation with per-frame cross-attention (and optional pose) conditioning."""
    batch, frames = embeddings.shape[:2]
    flat = embeddings.reshape(batch * frames, 1, embeddings.shape[-1])
    # Contiguous input: a strided (channel-sliced) input made the UNet's backward segfault on CPU torch 2.13.
    with FrameConditioning.of(unet).holding(flat, time_offset):
        return unet(
            model_input.contiguous(), timestep, encoder_hidden_states=embeddings[:, 0], added_time_ids=added_time_ids,
            return_dict=False,
        )[0]


def guidance_scales(
    num_frames: int, min_scale: float, max_scale: float, ramp: GuidanceRamp
) -> Tensor:  # [F] per-frame classifier-free guidance scale
    """SVD's per-frame guidance ramp ("linear": min at the first frame, max at the last) or ours
    ("triangle": min at both reference ends, max in the middle of the window)."""
    position = torch.linspace(0.0, 1.0, num_frames)
    if ramp == "triangle":
        position = 1.0 - (2.0 * position - 1.0).abs()
    return min_scale + (max_scale - min_scale) * position


def added_time_ids(
    unet, fps: int, motion_bucket_id: int, noise_aug_strength: float, batch: int
) -> Tensor:  # [batch, 3]
    """SVD's micro-conditioning vector [fps - 1, motion bucket, noise augmentation] (as SVD was trained)."""
    ids = time_id_values(fps, motion_bucket_id, noise_aug_strength)
    expected = unet.add_embedding.linear_1.in_features
    if unet.config.addition_time_embed_dim * len(ids) != expected:
        raise ValueError(f"UNet expects an added time embedding of {expected}; check addition_time_embed_dim")
    return torch.tensor([ids], dtype=torch.float32).repeat(batch, 1)


def time_id_values(fps: int, motion_bucket_id: int, noise_aug_strength: float) -> list[float]:
    """[fps - 1, motion bucket, noise augmentation]: the values behind `added_time_ids` (and pose.py)."""
    return [fps - 1, motion_bucket_id, noise_aug_strength]
