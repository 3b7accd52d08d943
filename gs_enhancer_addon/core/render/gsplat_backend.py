"""CUDA backend: gsplat's fused rasterizer (Ye et al., "gsplat: An Open-Source Library for
Gaussian Splatting", JMLR 2025), fed with the same activated parameters as the reference."""

from __future__ import annotations

import functools

from typing import Optional

import torch
from torch import Tensor

from ..errors import DeviceError
from .settings import RenderSettings


@functools.cache  # asked on every render; a failing import is not retried each step
def gsplat_available() -> bool:
    try:
        import gsplat  # noqa: F401
    except Exception:  # ImportError, or a broken CUDA toolchain at import
        return False
    return True


def rasterize_gsplat(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] wxyz
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, K, 3] SH when sh_degree is set, else [C, N, D] colours
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    settings: RenderSettings,
    sh_degree: Optional[int],
    backgrounds: Optional[Tensor] = None,  # [C, D]
) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
    """Render C images: colours [C,H,W,D], alpha [C,H,W,1], expected depth [C,H,W,1], visible [C,N],
    and gsplat's meta dict (means2d, radii, ...: what gsplat.strategy needs to densify)."""
    try:
        from gsplat import rasterization
    except Exception as exc:
        raise DeviceError(
            f"The CUDA renderer (gsplat) could not be loaded ({exc}). Reinstall the add-on's "
            "dependencies, or render on the CPU."
        ) from exc
    dtype = means.dtype  # gsplat's kernels take float32; autograd casts the gradients back
    f32 = [t.float() for t in (means, quats, scales, opacities, colors, viewmats, Ks)]
    backgrounds = None if backgrounds is None else backgrounds.float()
    try:
        out, alpha, meta = rasterization(
            *f32, width, height,
            near_plane=settings.near_plane, far_plane=settings.far_plane, eps2d=settings.eps2d,
            sh_degree=sh_degree, packed=settings.packed, backgrounds=backgrounds,
            render_mode="RGB+ED", rasterize_mode="antialiased" if settings.antialiased else "classic",
        )  # fmt: skip
    except torch.cuda.OutOfMemoryError as exc:
        raise DeviceError(
            "The GPU ran out of memory while rendering. Render fewer or smaller views, or close "
            "other programs using the GPU."
        ) from exc
    out, alpha = out.to(dtype), alpha.to(dtype)
    return out[..., :-1], alpha, out[..., -1:], _visible(meta, viewmats.shape[0], means.shape[0]), meta


def _visible(meta: dict, num_cameras: int, num_gaussians: int) -> Tensor:  # [C, N] bool
    radii = meta["radii"]
    if meta.get("gaussian_ids") is None:  # not packed: radii [C, N, 2]
        return (radii > 0).all(dim=-1)
    vis = torch.zeros(num_cameras, num_gaussians, dtype=torch.bool, device=radii.device)
    vis[meta["camera_ids"], meta["gaussian_ids"]] = (radii > 0).all(dim=-1)
    return vis
