"""View-consistency measurement with exact geometry (bench/bench_style_consistency.py; tested in
tests/core/test_bench_consistency.py).

Video/3D stylization papers (e.g. StylizedNeRF, Huang et al., CVPR 2022) measure consistency by
warping one view into another with optical flow and comparing. Here the geometry is known: the
target view's pixels are lifted with its rendered depth, moved into the source camera with the
known poses, and the source image is sampled there. Pixels that are empty, leave the source image,
or are occluded in the source (its rendered depth disagrees with the lifted point's depth) are
masked out.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gs_enhancer_addon.core.cameras import Camera
from gs_enhancer_addon.core.enhance.losses import unit_feature_distances


def _pixel_rays(cam: Camera, dtype=torch.float64) -> torch.Tensor:  # -> [H, W, 3] camera-space, z = 1
    j, i = torch.meshgrid(torch.arange(cam.height, dtype=dtype), torch.arange(cam.width, dtype=dtype), indexing="ij")
    pix = torch.stack([i + 0.5, j + 0.5, torch.ones_like(i)], dim=-1)  # pixel centres (project convention)
    return pix @ torch.as_tensor(np.linalg.inv(cam.K), dtype=dtype).T


def warp_into(
    source_image: torch.Tensor,  # [H, W, C] view to be warped
    source_depth: torch.Tensor,  # [H, W] its rendered depth
    source_cam: Camera,
    target_depth: torch.Tensor,  # [H, W] rendered depth of the view we warp into
    target_alpha: torch.Tensor,  # [H, W] its accumulated opacity
    target_cam: Camera,
    depth_tolerance: float = 0.05,  # relative depth difference above which a pixel counts as occluded
    min_alpha: float = 0.5,  # pixels less covered than this are left out
) -> tuple[torch.Tensor, torch.Tensor]:  # warped [Ht, Wt, C] in the target frame, valid mask [Ht, Wt] bool
    points = _pixel_rays(target_cam) * target_depth.double()[..., None]  # target camera space
    to_world = torch.as_tensor(target_cam.cam_to_world)
    world = points @ to_world[:3, :3].T + to_world[:3, 3]
    w2c = torch.as_tensor(source_cam.world_to_cam)
    in_src = world @ w2c[:3, :3].T + w2c[:3, 3]
    z = in_src[..., 2]
    uv = (in_src @ torch.as_tensor(source_cam.K).T)[..., :2] / z.clamp_min(1e-9)[..., None]
    grid = torch.stack([uv[..., 0] / source_cam.width * 2 - 1, uv[..., 1] / source_cam.height * 2 - 1], dim=-1)
    grid = grid.float()[None]
    stack = torch.cat([source_image.float(), source_depth.float()[..., None]], dim=-1).permute(2, 0, 1)[None]
    sampled = F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0].permute(1, 2, 0)
    warped, seen_depth = sampled[..., :-1], sampled[..., -1].double()
    inside = (grid[0].abs() <= 1).all(dim=-1) & (z > 1e-6)
    visible = (seen_depth - z).abs() <= depth_tolerance * z
    return warped, inside & visible & (target_alpha > min_alpha) & (target_depth > 0)


def masked_rmse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:  # [H, W, 3] x2, [H, W]
    diff = (a - b)[mask]
    return float(torch.sqrt(torch.mean(diff**2))) if diff.numel() else float("nan")


def masked_feature_distance(network, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """LPIPS-style distance (core.enhance.losses.unit_feature_distances) on the features of `network`
    (e.g. VGG19Features), each layer's map averaged over the (downsampled) valid mask, summed over
    layers. Masked-out pixels of `a` are replaced by `b`'s so they add nothing."""
    a = torch.where(mask[..., None], a, b)  # [H, W, 3]
    with torch.no_grad():
        fa = network(a.permute(2, 0, 1)[None].float())
        fb = network(b.permute(2, 0, 1)[None].float())
    total = 0.0
    for d in unit_feature_distances(fa, fb):  # [1, h, w] per layer
        m = F.interpolate(mask[None, None].float(), size=d.shape[-2:], mode="area")[0, 0] > 0.99
        total += float(d[0][m].mean()) if m.any() else 0.0
    return total
