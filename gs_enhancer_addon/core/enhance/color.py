"""Colour correction of generated frames to a reference view (3DGS-Enhancer, Sec. 3.3).

Each frame's per-channel statistics are matched to the reference's:
    I_c = (I_g - mu_g) / sigma_g * sigma_ref + mu_ref
with mean and standard deviation over all pixels of one channel.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-6  # added to sigma_g so a flat generated channel does not divide by zero


def channel_stats(frames: Tensor) -> tuple[Tensor, Tensor]:  # frames [..., C, H, W]
    """Per-channel mean and (population) standard deviation over H, W: two [..., C, 1, 1] tensors."""
    mean = frames.mean(dim=(-2, -1), keepdim=True)
    std = frames.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return mean, std


def color_correct(
    generated: Tensor,  # [F, C, H, W] frames to correct
    reference: Tensor,  # [C, H, W] the reference view whose statistics are matched
) -> Tensor:  # [F, C, H, W], not clamped
    """Match every generated frame's per-channel mean/std to `reference` (formula above)."""
    mu_g, sigma_g = channel_stats(generated.float())
    mu_ref, sigma_ref = channel_stats(reference.float()[None])
    corrected = (generated.float() - mu_g) / (sigma_g + EPS) * sigma_ref + mu_ref
    return corrected.to(generated.dtype)


def color_correct_window(
    frames: Tensor,  # [F, 3, H, W] decoded window in [0, 1]
    reference: Tensor,  # [3, H, W] first reference view in [0, 1]
) -> Tensor:  # [F, 3, H, W] in [0, 1]
    """Colour-correct a decoded window and clamp it back to [0, 1]."""
    return torch.clamp(color_correct(frames, reference), 0.0, 1.0)
