"""Real spherical harmonics up to degree 3, in the basis and sign convention of 3DGS / gsplat.

Kerbl et al., "3D Gaussian Splatting for Real-Time Radiance Field Rendering" (SIGGRAPH 2023),
colour = 0.5 + sum_k c_k Y_k(d), clamped at 0, where d is the unit direction from the camera
centre to the Gaussian. The constants are the real SH normalisations (Sloan, "Stupid Spherical
Harmonics Tricks", 2008); the coefficient order is that of the INRIA .ply layout.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..gaussians import SH_C0, SH_C1, SH_C2, SH_C3, sh_coefficient_count

num_sh_bases = sh_coefficient_count


def sh_basis(degree: int, dirs: Tensor) -> Tensor:  # dirs [..., 3] unit -> [..., (degree+1)^2]
    """The real SH basis functions Y_k(d) for k < (degree + 1)^2 at unit directions."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            SH_C2[0] * x * y,
            SH_C2[1] * y * z,
            SH_C2[2] * (2.0 * zz - xx - yy),
            SH_C2[3] * x * z,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            SH_C3[0] * y * (3.0 * xx - yy),
            SH_C3[1] * x * y * z,
            SH_C3[2] * y * (4.0 * zz - xx - yy),
            SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            SH_C3[4] * x * (4.0 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_rgb(
    sh: Tensor,  # [..., K, 3] coefficients, K >= (degree + 1)^2
    dirs: Tensor,  # [..., 3] viewing directions (camera -> Gaussian), any length
    degree: int,
) -> Tensor:  # [..., 3]
    """View-dependent colour max(0, 0.5 + sum_k sh_k Y_k(d)) as in 3DGS and gsplat."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    k = num_sh_bases(degree)
    if sh.shape[-2] < k:
        raise ValueError(f"SH degree {degree} needs {k} coefficients, got {sh.shape[-2]}")
    if degree == 0:
        raw = SH_C0 * sh[..., 0, :]
    else:
        unit = torch.nn.functional.normalize(dirs, dim=-1)
        basis = sh_basis(degree, unit)  # [..., k]
        raw = (basis.unsqueeze(-1) * sh[..., :k, :]).sum(dim=-2)
    return torch.clamp_min(raw + 0.5, 0.0)
