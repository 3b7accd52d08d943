"""Window size rule: what size the models see, and how results come back to the input size.

Rule (documented for users):
1. If H x W exceeds `max_pixels`, the window is downscaled (antialiased, aspect kept) so its area
   fits; results are upscaled back to the input size at the end.
2. The (possibly downscaled) frames are padded on the right and bottom, by reflection, up to the
   model's size multiple: vae_scale_factor x 2^(UNet down-samplings), 64 for SVD (8 x 8); the
   padding is cropped off after decoding. Padding, not resizing, so no pixel is resampled
   when the window already fits.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor


def size_multiple(vae_scale_factor: int, unet_down_blocks: int) -> int:
    """Pixel multiple the models need: the VAE's factor times the UNet's total down-sampling."""
    return vae_scale_factor * 2 ** max(unet_down_blocks - 1, 0)


def working_size(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """Size after rule step 1 (downscale to fit `max_pixels`, aspect kept)."""
    if height * width <= max_pixels:
        return height, width
    scale = math.sqrt(max_pixels / (height * width))
    return max(1, int(height * scale)), max(1, int(width * scale))


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Size after rule step 2 (round up to the multiple)."""
    return math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple


def to_model_size(frames: Tensor, multiple: int, max_pixels: int) -> Tensor:  # frames [F, C, H, W]
    """Apply the rule: downscale if too large, then reflect-pad up to the multiple."""
    height, width = frames.shape[-2:]
    work_h, work_w = working_size(height, width, max_pixels)
    if (work_h, work_w) != (height, width):
        frames = F.interpolate(frames, size=(work_h, work_w), mode="bilinear", antialias=True, align_corners=False)
    pad_h, pad_w = padded_size(work_h, work_w, multiple)
    if (pad_h, pad_w) != (work_h, work_w):
        mode = "reflect" if pad_h - work_h < work_h and pad_w - work_w < work_w else "replicate"
        frames = F.pad(frames, (0, pad_w - work_w, 0, pad_h - work_h), mode=mode)
    return frames


def from_model_size(frames: Tensor, height: int, width: int, max_pixels: int) -> Tensor:  # [F, C, h, w]
    """Undo `to_model_size`: crop the padding, upscale back to (height, width) if it was downscaled."""
    work_h, work_w = working_size(height, width, max_pixels)
    frames = frames[..., :work_h, :work_w]
    if (work_h, work_w) != (height, width):
        frames = F.interpolate(frames, size=(height, width), mode="bicubic", align_corners=False)
    return frames
