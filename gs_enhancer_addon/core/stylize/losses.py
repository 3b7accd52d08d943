"""CLIPstyler's losses as small functions (Kwon & Ye, "CLIPstyler", CVPR 2022).

  directional   1 - cos(normalize(E_I(out) - E_I(content)), normalize(E_T(t_sty) - E_T(t_src)))
  PatchCLIP     the same per random perspective-augmented crop, with threshold rejection: a patch
                whose loss is below tau is zeroed, so it contributes no gradient
  content       mean squared difference of content-network features (VGG-19 relu4_2 + relu5_2)
  tv            sum of the L2 norms of the four neighbour differences (official code)
  mimic         mean squared difference between f's output and the 3D model's render: StylizedNeRF's
                (Huang et al., CVPR 2022) mimic loss, a squared L2 pixel loss (its official code
                computes it with img2mse)
All image tensors are [B, 3, H, W] in [0, 1]; CLIP embeddings are unit length.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .clip_model import ClipModel


def directional_loss(
    image_features: torch.Tensor,  # [B, D] unit embeddings of the stylized images
    source_features: torch.Tensor,  # [B, D] or [1, D] unit embeddings of the content images
    direction: torch.Tensor,  # [D] unit text direction
) -> torch.Tensor:  # [B] per-sample loss in [0, 2]
    moved = F.normalize(image_features - source_features, dim=-1)
    return 1.0 - F.cosine_similarity(moved, direction.unsqueeze(0).expand_as(moved), dim=-1)


def reject_below(losses: torch.Tensor, threshold: float) -> torch.Tensor:  # [P] -> scalar
    """Mean of the per-patch losses with those below `threshold` replaced by 0 (no gradient)."""
    return torch.where(losses >= threshold, losses, torch.zeros_like(losses)).mean()


def _homographies(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:  # [P, 4, 2] x2 -> [P, 3, 3]
    """Per-patch 3x3 homographies mapping the four `src` corners onto the `dst` corners."""
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=1)  # [P, 8, 8]
    h = torch.linalg.solve(a, torch.cat([u, v], dim=1))  # [P, 8]
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1).view(-1, 3, 3)


def sample_patches(
    images: torch.Tensor,  # [B, 3, H, W]
    count: int,
    crop_size: int,
    out_size: int,
    distortion: float = 0.5,
    generator: Optional[torch.Generator] = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # [count, 3, S, S] patches, [count] source view index
    """Random crops with a random perspective warp (fill 0) resized to `out_size`, in one resampling.

    Like torchvision's RandomPerspective(distortion_scale, p=1) after RandomCrop: each corner of the
    crop moves inward by up to `distortion` x half the crop side; the output shows the crop as seen
    through that perspective. Differentiable with respect to `images`.
    """
    b, _, h, w = images.shape
    c = min(crop_size, h, w)
    g = dict(generator=generator, device="cpu")
    which = torch.randint(0, b, (count,), **g)
    x0 = torch.randint(0, w - c + 1, (count,), **g).double()
    y0 = torch.randint(0, h - c + 1, (count,), **g).double()
    corners = torch.tensor([[0.0, 0.0], [c, 0.0], [c, c], [0.0, c]], dtype=torch.float64)
    inward = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float64)
    shift = torch.rand(count, 4, 2, **g, dtype=torch.float64) * (distortion * c / 2)
    moved = corners + inward * shift  # where the crop corners land in the output
    hom = _homographies(moved, corners.expand(count, 4, 2))  # output (crop units) -> crop
    t = (torch.arange(out_size, dtype=torch.float64) + 0.5) * (c / out_size)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    q = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, -1, 3)  # [1, S*S, 3]
    p = q @ hom.transpose(1, 2)
    cx, cy = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]  # in crop pixels
    inside = ((cx >= 0) & (cx <= c) & (cy >= 0) & (cy <= c)).view(count, 1, out_size, out_size)
    grid = torch.stack([(cx + x0[:, None]) / w * 2 - 1, (cy + y0[:, None]) / h * 2 - 1], dim=-1)
    grid = grid.view(count, out_size, out_size, 2).to(device=images.device, dtype=images.dtype)
    which = which.to(images.device)
    patches = F.grid_sample(images[which], grid, mode="bilinear", padding_mode="border", align_corners=False)
    return patches * inside.to(device=images.device, dtype=images.dtype), which  # fill 0 outside the crop


def global_clip_loss(
    clip: ClipModel,
    output: torch.Tensor,  # [B, 3, H, W] stylized
    source_features: torch.Tensor,  # [B, D] CLIP embeddings of the content images
    direction: torch.Tensor,  # [D]
) -> torch.Tensor:
    return directional_loss(clip.encode_images(output), source_features, direction).mean()


def patch_clip_loss(
    clip: ClipModel,
    output: torch.Tensor,  # [B, 3, H, W] stylized
    source_features: torch.Tensor,  # [B, D]: each patch is compared with its whole content view (CLIPstyler)
    direction: torch.Tensor,  # [D]
    count: int = 64,
    crop_size: int = 128,
    distortion: float = 0.5,
    threshold: float = 0.7,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """PatchCLIP loss: per-patch directional loss over augmented crops, threshold rejection."""
    patches, which = sample_patches(output, count, crop_size, clip.image_size, distortion, generator)
    per_patch = directional_loss(clip.encode_images(patches), source_features[which], direction)
    return reject_below(per_patch, threshold)


def content_loss(
    network: Callable[[torch.Tensor], list[torch.Tensor]],
    output: torch.Tensor,  # [B, 3, H, W]
    content_features: list[torch.Tensor],  # network(content), precomputed
) -> torch.Tensor:
    return sum(torch.mean((f - c) ** 2) for f, c in zip(network(output), content_features))


def tv_loss(images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> scalar
    """CLIPstyler's image prior: L2 norms of horizontal, vertical and both diagonal differences."""
    d1 = images[:, :, :, :-1] - images[:, :, :, 1:]
    d2 = images[:, :, :-1, :] - images[:, :, 1:, :]
    d3 = images[:, :, 1:, :-1] - images[:, :, :-1, 1:]
    d4 = images[:, :, :-1, :-1] - images[:, :, 1:, 1:]
    return d1.norm() + d2.norm() + d3.norm() + d4.norm()


def mimic_loss(
    output: torch.Tensor,  # [B, 3, H, W] f's output
    render: torch.Tensor,  # [B, 3, H, W] the 3D model's render of the same views
) -> torch.Tensor:  # scalar
    """StylizedNeRF's mimic loss: mean squared (L2) difference, pulling f toward the 3D renders."""
    return torch.mean((output - render) ** 2)
