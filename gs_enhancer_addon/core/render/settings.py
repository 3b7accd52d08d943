"""Rasterization hyperparameters (gsplat's defaults), shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "cuda": gsplat, tensors must be on CUDA; "cpu": the project's pure-torch reference rasterizer,
# on whatever device the tensors are; "auto": gsplat for CUDA tensors where its kernels load and run,
# else the reference on the same device (gsplat_backend.gsplat_kernels).
Backend = Literal["auto", "cuda", "cpu"]


@dataclass
class RenderSettings:
    near_plane: float = 0.01  # Gaussians closer than this (camera z) are culled (gsplat default)
    far_plane: float = 1e10  # Gaussians farther than this are culled (gsplat default)
    eps2d: float = 0.3  # low-pass: added to the screen covariance, ~1 px minimum footprint (3DGS)
    antialiased: bool = False  # Mip-Splatting opacity compensation sqrt(det S / det(S + eps2d I))
    tile_size: int = 8  # CPU reference: square tile side in pixels (8 was fastest on CPU; gsplat uses 16)
    step_budget: int = 1 << 17  # CPU reference: (pixel, Gaussian) pairs per compositing step (bounds memory;
    # small steps also let saturated tiles stop early)
    packed: bool = False  # gsplat: packed (sparse) intermediates, for scenes larger than the view
