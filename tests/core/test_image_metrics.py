"""SSIM / PSNR: analytic properties plus one externally computed reference value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.image_metrics import gaussian_window, psnr, ssim, ssim_map


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two deterministic 24x20 RGB images given by formulas (no RNG, reproducible anywhere)."""
    H, W = 24, 20
    j, i = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    a = np.stack([0.5 + 0.4 * np.sin(0.3 * i + 0.2 * j), 0.5 + 0.4 * np.cos(0.25 * i * j / 7.0), (i + j) / (H + W)], -1)
    b = np.stack(
        [0.5 + 0.35 * np.sin(0.3 * i + 0.2 * j + 0.4), 0.45 + 0.4 * np.cos(0.25 * i * j / 7.0), ((i + j) / (H + W)) ** 2],
        -1,
    )
    return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)


# Reference numbers for _pair() from scikit-image 0.24.0 (installed in a throwaway venv, not a
# project dependency), computed with:
#   structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
#                         data_range=1.0, channel_axis=-1)   -> 0.8516373683302785
#   peak_signal_noise_ratio(a, b, data_range=1.0)           -> 16.958603927726244
# scikit-image averages the SSIM map without a 5-pixel border (its window radius), where the
# padding does not matter; our map is compared on the same interior.
SKIMAGE_SSIM = 0.8516373683302785
SKIMAGE_PSNR = 16.958603927726244


def test_ssim_interior_matches_scikit_image_reference():
    a, b = _pair()
    m = ssim_map(a, b)[0]  # [H, W, 3]
    assert m[5:-5, 5:-5].mean().item() == pytest.approx(SKIMAGE_SSIM, abs=1e-10)


def test_psnr_matches_scikit_image_reference():
    a, b = _pair()
    assert psnr(a, b).item() == pytest.approx(SKIMAGE_PSNR, abs=1e-9)


def test_gaussian_window_is_normalized_symmetric_and_3dgs_sized():
    w = gaussian_window()
    assert w.shape == (11,)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(w, w.flip(0))
    # ratio of centre tap to its neighbour is exp(1 / (2 sigma^2)) with sigma = 1.5
    assert (w[5] / w[4]).item() == pytest.approx(math.exp(1 / (2 * 1.5**2)), rel=1e-6)


def test_ssim_identity_symmetry_and_range():
    a, b = _pair()
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b).item() == pytest.approx(ssim(b, a).item(), abs=1e-12)
    assert -1.0 <= ssim(a, 1 - a).item() < ssim(a, b).item() < 1.0


def test_ssim_of_constant_images_follows_luminance_term():
    # Constant images: sigma terms vanish, SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) away
    # from the zero-padded border.
    x = torch.full((16, 16, 1), 0.2, dtype=torch.float64)
    y = torch.full((16, 16, 1), 0.6, dtype=torch.float64)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    m = ssim_map(x, y)[0, 5:-5, 5:-5]
    assert torch.allclose(m, torch.full_like(m, expected), atol=1e-12)


def test_ssim_batch_reduction_and_gradient():
    a, b = _pair()
    batch_a = torch.stack([a, a]).float()
    batch_b = torch.stack([a, b]).float().requires_grad_(True)
    per_image = ssim(batch_a, batch_b, reduction="none")
    assert per_image.shape == (2,)
    assert per_image[0].item() == pytest.approx(1.0, abs=1e-5)
    (1 - per_image[1]).backward()
    assert batch_b.grad is not None and batch_b.grad[1].abs().sum() > 0
    assert batch_b.grad[0].abs().max() < 1e-3  # at the optimum the gradient vanishes


def test_psnr_known_mse():
    a = torch.zeros(4, 4, 3)
    b = torch.full((4, 4, 3), 0.1)
    assert psnr(a, b).item() == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.01)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        ssim(torch.zeros(4, 4, 3), torch.zeros(4, 5, 3))
