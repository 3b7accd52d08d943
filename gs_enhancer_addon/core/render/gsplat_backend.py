"""CUDA backend: gsplat's fused rasterizer (Ye et al., "gsplat: An Open-Source Library for
Gaussian Splatting", JMLR 2025), fed with the same activated parameters as the reference.

gsplat ships its CUDA kernels either prebuilt (a platform wheel from gsplat's own index) or as
sources it compiles on first use, which needs the CUDA toolkit (nvcc) and a C++ compiler: most
artists' machines have neither. `gsplat_kernels(device)` checks once per device whether the
kernels load and run; where they do not, the renderer falls back to the project's torch
rasterizer on the same device and `backend_notes()` says so, once, in words a user can act on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from ..errors import DeviceError, first_line
from .settings import RenderSettings

log = logging.getLogger(__name__)

# Set to "off" to never use gsplat's kernels (troubleshooting a broken CUDA set-up; tests).
GSPLAT_SWITCH = "GSE_GSPLAT"


@dataclass(frozen=True)
class KernelCheck:
    ok: bool
    reason: str  # why the kernels cannot be used, in a few words ("" when ok)


_checks: dict[str, KernelCheck] = {}  # str(device) -> result of its one check
_notes: list[str] = []  # user-facing remarks not handed out yet (each is said once per process)


def gsplat_kernels(device: torch.device) -> KernelCheck:
    """Whether gsplat's CUDA kernels load and run on `device`; checked once per device.

    The first call may take minutes where gsplat compiles its kernels (CUDA toolkit present,
    nothing prebuilt); later calls return the stored answer. A failed check adds a note
    (`backend_notes()`) and a log warning.
    """
    key = str(device)
    if key not in _checks:
        check = _check_kernels(device)
        _checks[key] = check
        if not check.ok:
            note = fallback_note(device, check.reason)
            log.warning(note)
            _notes.append(note)
    return _checks[key]


def backend_notes() -> list[str]:
    """What the renderer has to tell the user (the fallback from gsplat), not told yet: each note is
    returned by one call only, so a job that puts them in its result says so once per process."""
    notes = list(_notes)
    _notes.clear()
    return notes


def forget_kernel_checks() -> None:
    """Drop stored checks and notes (tests; a long-lived process after fixing its CUDA set-up)."""
    _checks.clear()
    _notes.clear()


def fallback_note(device: torch.device, reason: str) -> str:
    return (
        f"gsplat's CUDA kernels are not available ({reason}), so rendering on {device} uses the add-on's own "
        "PyTorch rasterizer: the same images, but rendering and fine-tuning are slower, and densification "
        "is not available. For the fast path, install the add-on zip built with a prebuilt gsplat wheel "
        "(README, 'CUDA without a compiler'), or install the CUDA toolkit (nvcc) and a C++ compiler "
        "(Visual Studio Build Tools on Windows), then restart Blender."
    )


def _check_kernels(device: torch.device) -> KernelCheck:
    if os.environ.get(GSPLAT_SWITCH, "").strip().lower() == "off":
        return KernelCheck(False, f"turned off with {GSPLAT_SWITCH}=off")
    try:
        import gsplat  # noqa: F401
    except Exception as exc:  # not installed, or broken at import
        return KernelCheck(False, f"gsplat could not be imported: {_first_line(exc)}")
    try:  # prebuilt kernels (gsplat.csrc), an earlier build, or a JIT compile now (minutes)
        from gsplat.cuda._backend import _C
    except Exception as exc:
        return KernelCheck(False, f"building them failed: {_first_line(exc)}")
    if _C is None:
        return KernelCheck(False, "none are prebuilt and no CUDA toolkit (nvcc) was found to build them")
    try:
        _smoke_render(device)
    except Exception as exc:
        return KernelCheck(False, f"they failed to run on {device}: {_first_line(exc)}")
    return KernelCheck(True, "")


def _smoke_render(device: torch.device) -> None:
    """One Gaussian into an 8x8 image on `device`: loads and runs the kernels once."""
    from gsplat import rasterization

    f32 = dict(dtype=torch.float32, device=device)
    K = torch.tensor([[8.0, 0.0, 4.0], [0.0, 8.0, 4.0], [0.0, 0.0, 1.0]], **f32)[None]
    out, _, _ = rasterization(
        torch.tensor([[0.0, 0.0, 2.0]], **f32), torch.tensor([[1.0, 0.0, 0.0, 0.0]], **f32),
        torch.full((1, 3), 0.1, **f32), torch.ones(1, **f32), torch.ones(1, 3, **f32),
        torch.eye(4, **f32)[None], K, 8, 8,
    )  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if not torch.isfinite(out).all():
        raise RuntimeError("the test render gave non-finite pixels")


def _first_line(exc: BaseException) -> str:
    """'TypeError: first line', or the type name alone when the message is empty."""
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__


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
