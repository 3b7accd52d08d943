"""The project's own differentiable rasterizer (pure torch): the CPU backend and parity reference.

Kerbl et al., "3D Gaussian Splatting for Real-Time Radiance Field Rendering" (SIGGRAPH 2023):
project (EWA, projection.py), cull, sort by depth, composite front to back per tile
(composite.py). It follows gsplat's conventions and thresholds so both backends agree.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .composite import TileGrid, composite_tiles, quadratic_coefficients, tile_intersections
from .projection import project_gaussians
from .settings import RenderSettings


def rasterize_reference(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] wxyz
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [C, N, D] per-camera colours (RGB, then any features)
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    settings: RenderSettings,
    backgrounds: Optional[Tensor] = None,  # [C, D]
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Render C images: colours [C,H,W,D], alpha [C,H,W,1], expected depth [C,H,W,1], visible [C,N]."""
    outs = [
        _render_one(means, quats, scales, opacities, colors[c], viewmats[c], Ks[c], width, height, settings)
        for c in range(viewmats.shape[0])
    ]
    img = torch.stack([o[0] for o in outs])  # [C, H, W, D + 2]: colours, depth, alpha
    d = colors.shape[-1]
    rgb, depth_sum, alpha = img[..., :d], img[..., d : d + 1], img[..., d + 1 :]
    if backgrounds is not None:
        rgb = rgb + (1.0 - alpha) * backgrounds[:, None, None, :]
    depth = depth_sum / alpha.clamp_min(1e-10)
    visible = torch.stack([o[1] for o in outs])
    return rgb, alpha, depth, visible


def _render_one(means, quats, scales, opacities, colors, viewmat, K, width, height, settings: RenderSettings):
    proj = project_gaussians(
        means, quats, scales, opacities, viewmat, K, width, height,
        settings.near_plane, settings.far_plane, settings.eps2d, settings.antialiased,
    )  # fmt: skip
    order = torch.argsort(proj.depths.detach(), stable=True)
    grid = TileGrid(width, height, settings.tile_size)
    gid, tid, offsets = tile_intersections(proj.means2d.detach()[order], proj.radii[order], grid)
    g = order[gid]  # index into the projected arrays
    centres = grid.centres(means.device, means.dtype)
    coefs = quadratic_coefficients(proj.means2d[g] - centres[tid], proj.conics[g], torch.log(proj.opacities[g]))
    feats = torch.cat([colors[proj.ids], proj.depths.unsqueeze(-1)], dim=-1)[g]
    img = composite_tiles(coefs, feats, offsets, grid, settings.step_budget)
    visible = torch.zeros(means.shape[0], dtype=torch.bool, device=means.device)
    visible[proj.ids] = True
    return img[:height, :width], visible
