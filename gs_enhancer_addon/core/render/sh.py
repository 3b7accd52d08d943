"""View-dependent colour from real spherical harmonics up to degree 3, as 3DGS / gsplat evaluate it.

Kerbl et al., "3D Gaussian Splatting for Real-Time Radiance Field Rendering" (SIGGRAPH 2023),
colour = 0.5 + sum_k c_k Y_k(d), clamped at 0, where d is the unit direction from the camera
centre to the Gaussian. The basis, its constants and its order live in core/geometry.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..geometry import SH_C0, sh_basis_terms, sh_coefficient_count

def sh_basis(degree: int, dirs: Tensor) -> Tensor:  # dirs [..., 3] unit -> [..., (degree+1)^2]
    """The real SH basis functions Y_k(d) for k < (degree + 1)^2 at unit directions (core.geometry's formulas)."""
    return torch.stack(sh_basis_terms(degree, *dirs.unbind(-1)), dim=-1)


def sh_to_rgb(
    sh: Tensor,  # [..., K, 3] coefficients, K >= (degree + 1)^2
    dirs: Tensor,  # [..., 3] viewing directions (camera -> Gaussian), any length
    degree: int,
) -> Tensor:  # [..., 3]
    """View-dependent colour max(0, 0.5 + sum_k sh_k Y_k(d)) as in 3DGS and gsplat."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    k = sh_coefficient_count(degree)
    if sh.shape[-2] < k:
        raise ValueError(f"SH degree {degree} needs {k} coefficients, got {sh.shape[-2]}")
    if degree == 0:
        raw = SH_C0 * sh[..., 0, :]
    else:
        unit = torch.nn.functional.normalize(dirs, dim=-1)
        basis = sh_basis(degree, unit)  # [..., k]
        raw = (basis.unsqueeze(-1) * sh[..., :k, :]).sum(dim=-2)
    return torch.clamp_min(raw + 0.5, 0.0)
