"""EWA projection of 3D Gaussians to screen-space ellipses, the way gsplat and 3DGS do it.

Zwicker et al., "EWA Splatting" (IEEE TVCG 2002): a 3D Gaussian N(mu, Sigma) seen through the
perspective map P is approximated by N(P(mu), J Sigma J^T) with J the Jacobian of P at mu.
Kerbl et al., "3D Gaussian Splatting" (SIGGRAPH 2023): Sigma = R S S^T R^T from a unit quaternion
and per-axis scales; a 2D low-pass (eps2d added to the screen covariance) keeps every splat at
least about a pixel wide; the Jacobian is evaluated at a point clamped to 1.3x the field of view
(gsplat's `persp_proj`), while the projected mean itself is not clamped.
Yu et al., "Mip-Splatting" (CVPR 2024): the antialiased mode scales the opacity by
sqrt(det(Sigma2d) / det(Sigma2d + eps2d I)), gsplat's compensation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0  # alphas below this are skipped (3DGS, gsplat)
MAX_EXTEND = 3.33  # bounding box half-size in standard deviations (gsplat)


@dataclass
class Projected:
    """The Gaussians that survive culling for one camera, with their screen-space footprint."""

    ids: Tensor  # [M] long, indices into the input Gaussians
    means2d: Tensor  # [M, 2] pixels (continuous, pixel centres at +0.5)
    conics: Tensor  # [M, 3] inverse screen covariance (a, b, c): [[a, b], [b, c]]
    depths: Tensor  # [M] camera-space z
    opacities: Tensor  # [M] sigmoid(logit), times the compensation when antialiased
    radii: Tensor  # [M, 2] long, bounding box half-size in pixels (no gradient)


def quat_to_rotmat(quats: Tensor) -> Tensor:  # [N, 4] wxyz, any norm -> [N, 3, 3]
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(quats.shape[:-1] + (3, 3))


def covariance_3d(quats: Tensor, scales: Tensor) -> Tensor:  # [N,4], [N,3] -> [N, 3, 3]
    """Sigma = R S S^T R^T (3DGS eq. 6)."""
    m = quat_to_rotmat(quats) * scales.unsqueeze(-2)  # R @ diag(s)
    return m @ m.transpose(-1, -2)


def project_gaussians(
    means: Tensor,  # [N, 3] world
    quats: Tensor,  # [N, 4] wxyz
    scales: Tensor,  # [N, 3] standard deviations
    opacities: Tensor,  # [N] in (0, 1)
    world_to_cam: Tensor,  # [4, 4] OpenCV
    K: Tensor,  # [3, 3] pixels
    width: int,
    height: int,
    near_plane: float,
    far_plane: float,
    eps2d: float,
    antialiased: bool,
) -> Projected:
    """Project, low-pass and cull (near/far, degenerate, too transparent, off-image)."""
    rot, trans = world_to_cam[:3, :3], world_to_cam[:3, 3]
    z_all = means.detach() @ rot[2].detach() + trans[2].detach()
    ids = torch.nonzero((z_all > near_plane) & (z_all < far_plane)).squeeze(-1)
    means_c = means[ids] @ rot.T + trans  # [M, 3]
    cov_c = rot @ covariance_3d(quats[ids], scales[ids]) @ rot.T  # [M, 3, 3]
    means2d, cov2d = _perspective(means_c, cov_c, K, width, height)
    det_orig = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    c00, c01, c11 = cov2d[:, 0, 0] + eps2d, 0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0]), cov2d[:, 1, 1] + eps2d
    det = c00 * c11 - c01 * c01
    opac = opacities[ids]
    if antialiased:
        opac = opac * torch.sqrt(torch.clamp(det_orig / det.clamp_min(1e-10), min=0.0))
    with torch.no_grad():
        radii = _radii(opac, c00, c11)
        keep = (det > 0) & (opac >= ALPHA_MIN) & _on_image(means2d, radii, width, height)
    det_safe = det.clamp_min(1e-10)
    conics = torch.stack([c11 / det_safe, -c01 / det_safe, c00 / det_safe], dim=-1)
    k = torch.nonzero(keep).squeeze(-1)
    return Projected(ids[k], means2d[k], conics[k], means_c[k, 2], opac[k], radii[k])


def _perspective(means_c: Tensor, cov_c: Tensor, K: Tensor, width: int, height: int):
    """Pinhole projection of means and the EWA Jacobian J Sigma J^T (gsplat's persp_proj)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = means_c.unbind(-1)
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    tx = z * torch.minimum(torch.maximum(x / z, -lim_x_neg), lim_x_pos)
    ty = z * torch.minimum(torch.maximum(y / z, -lim_y_neg), lim_y_pos)
    zero = torch.zeros_like(z)
    jac = torch.stack([fx / z, zero, -fx * tx / (z * z), zero, fy / z, -fy * ty / (z * z)], dim=-1)
    jac = jac.reshape(-1, 2, 3)
    cov2d = jac @ cov_c @ jac.transpose(-1, -2)
    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], dim=-1)
    return means2d, cov2d


def _radii(opac: Tensor, c00: Tensor, c11: Tensor) -> Tensor:  # -> [M, 2] long
    """Opacity-aware box: beyond sqrt(2 ln(o / alpha_min)) sigmas alpha < 1/255 (gsplat)."""
    extend = torch.sqrt(2.0 * torch.log(opac.clamp_min(ALPHA_MIN) / ALPHA_MIN))
    extend = extend.clamp_max(MAX_EXTEND)
    rx = torch.ceil(extend * torch.sqrt(c00.clamp_min(0)))
    ry = torch.ceil(extend * torch.sqrt(c11.clamp_min(0)))
    return torch.stack([rx, ry], dim=-1).nan_to_num(0.0).long()


def _on_image(means2d: Tensor, radii: Tensor, width: int, height: int) -> Tensor:
    mx, my = means2d.unbind(-1)
    rx, ry = radii.unbind(-1)
    return (rx > 0) & (ry > 0) & (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)


