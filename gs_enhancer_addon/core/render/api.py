"""render(): one differentiable Gaussian-splatting renderer, two backends.

3DGS (Kerbl et al., SIGGRAPH 2023) image formation with gsplat's conventions: OpenCV
world-to-camera, K in pixels with pixel centres at +0.5, eps2d low-pass, near/far culling,
optional Mip-Splatting antialiasing. CUDA tensors go to gsplat where its kernels load and run
(checked once per device, gsplat_backend.gsplat_kernels); anything else, and CUDA tensors where
they do not, to the project's pure-torch reference rasterizer (reference.py) on the same device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..cameras import Camera
from ..errors import DeviceError, InputError
from ..gaussians import GaussianTensors, sh_coefficient_count
from .gsplat_backend import gsplat_kernels, rasterize_gsplat
from .reference import rasterize_reference
from .settings import Backend, RenderSettings
from .sh import sh_to_rgb

BackgroundLike = Union[None, Tensor, Sequence[float]]


@dataclass
class RenderOutput:
    rgb: Tensor  # [C, H, W, 3] composited colour over the background
    alpha: Tensor  # [C, H, W, 1] accumulated opacity
    depth: Tensor  # [C, H, W, 1] expected camera-space depth sum(w z) / sum(w) (0 where empty)
    features: Optional[Tensor] = None  # [C, H, W, D] the `features` composited like colours
    visible: Optional[Tensor] = None  # [C, N] bool: Gaussian survived culling in that view
    info: Optional[dict] = None  # gsplat's meta (means2d, radii, ...) for its densification strategy; CUDA only


def render(
    gaussians: GaussianTensors,
    cameras: Sequence[Camera],
    *,
    sh_degree: Optional[int] = None,
    features: Optional[Tensor] = None,  # [N, D]
    background: BackgroundLike = None,  # [3] or [C, 3] or 3 floats; black when None
    backend: Backend = "auto",
    settings: Optional[RenderSettings] = None,
) -> RenderOutput:
    """Render `gaussians` from every camera (all the same size); differentiable w.r.t. the Gaussians.

    `sh_degree` defaults to all the SH bands present. `features` [N, D] are composited with the
    same weights as the colours (no background), e.g. the scales for pixel confidence.
    `backend`: "cuda" = gsplat (tensors on CUDA, its kernels must work), "cpu" = the pure-torch
    reference, which runs on the tensors' device, "auto" = gsplat for CUDA tensors where its kernels
    work, else the reference (the first fallback is noted once: `backend_notes()`).
    """
    settings = settings or RenderSettings()
    width, height = _check_cameras(cameras)
    degree = _check_inputs(gaussians, sh_degree, features)
    device, dtype = gaussians.means.device, gaussians.means.dtype
    use_cuda = _pick_backend(backend, device)
    viewmats = torch.as_tensor(np.stack([c.world_to_cam for c in cameras]), dtype=dtype, device=device)
    Ks = torch.as_tensor(np.stack([c.K for c in cameras]), dtype=dtype, device=device)
    bg = _background(background, len(cameras), device, dtype)
    means = gaussians.means
    quats = gaussians.quats / gaussians.quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    scales = torch.exp(gaussians.log_scales)
    opacities = torch.sigmoid(gaussians.opacity_logits)
    nf = 0 if features is None else features.shape[-1]
    if use_cuda and features is None:  # gsplat evaluates the SH itself
        colors, deg = gaussians.sh, degree
    else:
        colors, deg = _view_colors(gaussians, viewmats, degree, features), None
    if bg is not None and nf:
        bg = torch.cat([bg, bg.new_zeros(bg.shape[0], nf)], dim=-1)
    args = (means, quats, scales, opacities, colors, viewmats, Ks, width, height, settings)
    if use_cuda:
        out, alpha, depth, visible, info = rasterize_gsplat(*args, sh_degree=deg, backgrounds=bg)
    else:
        out, alpha, depth, visible = rasterize_reference(*args, backgrounds=bg)
        info = None
    return RenderOutput(out[..., :3], alpha, depth, out[..., 3:] if nf else None, visible, info)


def _view_colors(gaussians: GaussianTensors, viewmats: Tensor, degree: int, features) -> Tensor:
    """[C, N, 3 (+D)]: SH colour seen from each camera centre, then the features."""
    cam_centres = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3]
    dirs = gaussians.means.unsqueeze(0) - cam_centres[:, None, :]  # [C, N, 3]
    rgb = sh_to_rgb(gaussians.sh.unsqueeze(0).expand(len(viewmats), -1, -1, -1), dirs, degree)
    if features is None:
        return rgb
    return torch.cat([rgb, features.unsqueeze(0).expand(len(viewmats), -1, -1).to(rgb.dtype)], dim=-1)


def _pick_backend(backend: str, device: torch.device) -> bool:
    """True for gsplat, False for the reference."""
    if backend == "cpu":
        return False
    if backend == "cuda":
        if device.type != "cuda" or not torch.cuda.is_available():
            raise DeviceError(
                "CUDA rendering was requested, but the Gaussians are not on a CUDA GPU"
                + ("" if torch.cuda.is_available() else " (no CUDA GPU is available on this computer)")
                + ". Choose the CPU renderer, or move the data to the GPU."
            )
        check = gsplat_kernels(device)
        if not check.ok:
            raise DeviceError(
                f"gsplat's CUDA kernels are not available ({check.reason}). Use the 'auto' renderer to fall "
                "back to the add-on's own PyTorch rasterizer on the same GPU."
            )
        return True
    if backend != "auto":
        raise InputError(f"Unknown render backend {backend!r}: use 'auto', 'cuda' (gsplat) or 'cpu' (torch).")
    return device.type == "cuda" and gsplat_kernels(device).ok


def _check_cameras(cameras: Sequence[Camera]) -> tuple[int, int]:
    if len(cameras) == 0:
        raise InputError("No camera to render from: add or select at least one camera.")
    sizes = {(int(c.width), int(c.height)) for c in cameras}
    if len(sizes) != 1:
        listed = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise InputError(
            f"All cameras rendered together must have the same resolution; got {listed}. "
            "Set the same output resolution for every camera."
        )
    width, height = sizes.pop()
    if width <= 0 or height <= 0:
        raise InputError(f"Camera resolution must be positive, got {width}x{height}.")
    return width, height


def _check_inputs(gaussians: GaussianTensors, sh_degree: Optional[int], features) -> int:
    n = gaussians.means.shape[0]
    if gaussians.sh.ndim != 3 or gaussians.sh.shape[0] != n or gaussians.sh.shape[-1] != 3:
        raise InputError(f"SH coefficients must have shape [N, K, 3] with N={n}, got {tuple(gaussians.sh.shape)}.")
    have = gaussians.sh_degree
    if sh_coefficient_count(have) != gaussians.sh.shape[1] or have > 3:
        raise InputError(f"SH must have 1, 4, 9 or 16 coefficients per channel, got {gaussians.sh.shape[1]}.")
    degree = have if sh_degree is None else int(sh_degree)
    if not 0 <= degree <= have:
        raise InputError(f"SH degree {sh_degree} requested, but the splat only has degree {have}.")
    if features is not None:
        if features.ndim != 2 or features.shape[0] != n:
            raise InputError(f"Features must have shape [N, D] with N={n}, got {tuple(features.shape)}.")
        if features.device != gaussians.means.device:
            raise InputError("Features must be on the same device as the Gaussians.")
    return degree


def _background(background: BackgroundLike, num_cameras: int, device, dtype) -> Optional[Tensor]:
    if background is None:
        return None
    bg = torch.as_tensor(background, dtype=dtype, device=device)
    if bg.shape == (3,):
        bg = bg.expand(num_cameras, 3)
    if bg.shape != (num_cameras, 3):
        raise InputError(f"Background must be 3 values or one RGB per camera, got shape {tuple(bg.shape)}.")
    return bg
