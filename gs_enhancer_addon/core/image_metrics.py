"""Image similarity metrics shared by training losses and benchmarks: SSIM and PSNR.

SSIM follows Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural
Similarity", with the settings of the 3D Gaussian Splatting code (Kerbl et al. 2023): an 11x11
Gaussian window with sigma 1.5, C1 = (0.01 L)^2, C2 = (0.03 L)^2, local statistics by a
per-channel convolution with zero padding ("same" size map), mean over the map.

Images are channel-last float tensors in [0, data_range]: [H, W, C] or [B, H, W, C].
The map returned by `ssim_map` away from a 5-pixel border does not depend on the padding and
equals scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)` map there (tests check this against numbers from scikit-image).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["mean", "none"]

WINDOW_SIZE = 11  # 3DGS / Wang et al.: 11x11 Gaussian window
WINDOW_SIGMA = 1.5  # standard deviation of that window, in pixels
K1, K2 = 0.01, 0.03  # stabilizing constants of Wang et al.


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA, *, dtype=torch.float32, device=None):
    """Normalized 1D Gaussian weights [size], centred on the middle tap."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2.0
    w = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (w / w.sum()).to(dtype)


def _as_bchw(img: torch.Tensor) -> torch.Tensor:
    """[H, W, C] or [B, H, W, C] -> [B, C, H, W]."""
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.dim() != 4:
        raise ValueError(f"expected an image [H, W, C] or a batch [B, H, W, C], got shape {tuple(img.shape)}")
    return img.permute(0, 3, 1, 2)


def _blur(x: torch.Tensor, w1d: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, zero padding, same size.  x: [B, C, H, W]."""
    c = x.shape[1]
    pad = w1d.numel() // 2
    kx = w1d.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = w1d.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    x = F.conv2d(x, kx, padding=(0, pad), groups=c)
    return F.conv2d(x, ky, padding=(pad, 0), groups=c)


def ssim_map(
    a: torch.Tensor,  # [H, W, C] or [B, H, W, C]
    b: torch.Tensor,  # same shape as a
    *,
    data_range: float = 1.0,
    window_size: int = WINDOW_SIZE,
    sigma: float = WINDOW_SIGMA,
) -> torch.Tensor:  # [B, H, W, C] (batch dim added for a single image)
    """Per-pixel, per-channel SSIM (differentiable)."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    x, y = _as_bchw(a), _as_bchw(b)
    w = gaussian_window(window_size, sigma, dtype=x.dtype, device=x.device)
    mu_x, mu_y = _blur(x, w), _blur(y, w)
    sxx = _blur(x * x, w) - mu_x**2
    syy = _blur(y * y, w) - mu_y**2
    sxy = _blur(x * y, w) - mu_x * mu_y
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).permute(0, 2, 3, 1)


def ssim(
    a: torch.Tensor,  # [H, W, C] or [B, H, W, C]
    b: torch.Tensor,  # same shape as a
    *,
    data_range: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:  # scalar ("mean") or [B] per image ("none")
    """Structural similarity (Wang et al. 2004) with the 3DGS window; 1 means identical."""
    m = ssim_map(a, b, data_range=data_range)
    if reduction == "mean":
        return m.mean()
    return m.flatten(1).mean(1)


def psnr(
    a: torch.Tensor,  # [..., H, W, C]
    b: torch.Tensor,  # same shape as a
    *,
    data_range: float = 1.0,
) -> torch.Tensor:  # scalar, dB
    """Peak signal-to-noise ratio 10 log10(L^2 / MSE) over all pixels and channels."""
    mse = torch.mean((a.to(torch.float64) - b.to(torch.float64)) ** 2)
    return (10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-20))).to(a.dtype)


def mean_psnr(a, b, *, data_range: float = 1.0) -> float:  # a, b: [V, H, W, C] arrays or tensors
    """The mean over views of each view's PSNR (dB): how novel-view results are reported (3DGS)."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return float(torch.stack([psnr(x, y, data_range=data_range) for x, y in zip(a, b)]).mean())
