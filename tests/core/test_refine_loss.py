"""Confidence-aware loss pieces of core/refine.py, checked against hand computations (no renderer)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.cameras import Camera
from gs_enhancer_addon.core.refine import RefineConfig, means_lr, pixel_confidence, scene_extent, view_loss


def _hand_ssim_1x2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM map of a 1-row, 2-column image per channel, by hand.

    With an 11x11 Gaussian window (sigma 1.5) and zero padding, pixel j sees itself with weight
    wc*wc (centre tap of the vertical and horizontal 1D windows) and its neighbour o with wc*w1.
    x, y: [2, 3] (pixel, channel).
    """
    taps = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.5**2))
    taps /= taps.sum()
    wc, w1 = taps[5], taps[6]
    c1, c2 = 0.01**2, 0.03**2
    out = np.zeros_like(x)
    for j, o in ((0, 1), (1, 0)):

        def blur(v):
            return wc * wc * v[j] + wc * w1 * v[o]

        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        out[j] = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return out


def test_view_loss_equals_hand_computation():
    x = np.array([[0.2, 0.5, 0.9], [0.7, 0.1, 0.4]])  # render Ĉ, [W=2, 3]
    y = np.array([[0.3, 0.45, 0.6], [0.5, 0.3, 0.4]])  # target C
    p = np.array([0.25, 1.0])  # P_c per pixel
    image_c, lam = 0.6, 0.2
    l1 = np.mean(p[:, None] * np.abs(x - y))
    expected = image_c * (l1 + lam * (1 - _hand_ssim_1x2(x, y).mean()))

    got = view_loss(
        torch.tensor(x[None]), torch.tensor(y[None]), image_c, torch.tensor(p[None]), ssim_weight=lam
    )
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # sanity of the hand numbers themselves: the plain L1 part is what we think it is
    assert l1 == pytest.approx((0.25 * (0.1 + 0.05 + 0.3) + (0.2 + 0.2 + 0.0)) / 6)


def test_zero_image_confidence_gives_zero_loss_and_zero_gradient():
    rendered = torch.rand(6, 5, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    target = torch.rand(6, 5, 3, generator=torch.Generator().manual_seed(2))
    loss = view_loss(rendered, target, 0.0, torch.ones(6, 5))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(rendered.grad) == 0


def test_pixel_confidence_hand_example_and_rule():
    # 2x2 image. Composited scale features carry the pixel's alpha (zero background).
    feats = torch.tensor(
        [
            [[1.0, 1.0, 8.0], [1.0, 1.0, 1.0]],  # A=1: size cbrt(8)=2 ; A=1: size 1
            [[0.0, 0.0, 0.0], [0.6, 0.6, 0.6]],  # A=0: empty ; A=0.6: composited size 0.6 (normalized 1)
        ]
    )
    alpha = torch.tensor([[[1.0], [1.0]], [[0.0], [0.6]]])
    # covered (A>0.5) normalized sizes {2, 1, 1}; the 0.99 nearest-rank quantile is 2
    expected = torch.tensor([[2 / 2, 1 / 2], [0 / 2 + 1.0, 0.6 / 2 + 0.4]])
    p = pixel_confidence(feats, alpha, quantile=0.99)
    assert torch.allclose(p, expected, atol=1e-6)
    # scale-free: the scene's unit does not matter
    assert torch.allclose(pixel_confidence(feats * 10.0, alpha), p, atol=1e-6)
    # larger Gaussians -> more trust in the generated pixel
    assert p[0, 0] > p[0, 1]


def test_pixel_confidence_range_and_no_gradient():
    g = torch.Generator().manual_seed(0)
    feats = (torch.rand(8, 8, 3, generator=g) * 3).requires_grad_(True)
    alpha = torch.rand(8, 8, 1, generator=g)
    p = pixel_confidence(feats, alpha)
    assert p.shape == (8, 8) and not p.requires_grad
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    # nothing covered: trust the generated view everywhere
    assert torch.equal(pixel_confidence(feats, torch.zeros(8, 8, 1)), torch.ones(8, 8))


def test_means_lr_follows_3dgs_exponential_decay():
    cfg = RefineConfig(iterations=1000)
    assert means_lr(0, 1000, cfg, 2.0) == pytest.approx(1.6e-4 * 2.0)
    assert means_lr(1000, 1000, cfg, 2.0) == pytest.approx(1.6e-6 * 2.0)
    assert means_lr(500, 1000, cfg, 2.0) == pytest.approx(math.sqrt(1.6e-4 * 1.6e-6) * 2.0)


def _cam_at(center) -> Camera:
    w2c = np.eye(4)
    w2c[:3, 3] = -np.asarray(center, dtype=np.float64)
    return Camera(K=np.diag([10.0, 10.0, 1.0]), world_to_cam=w2c, width=4, height=4)


def test_scene_extent_is_3dgs_camera_radius_with_fallback():
    cams = [_cam_at([0, 0, 0]), _cam_at([2, 0, 0]), _cam_at([1, 3, 0])]
    centers = np.array([[0, 0, 0], [2, 0, 0], [1, 3, 0]], dtype=float)
    expected = 1.1 * np.linalg.norm(centers - centers.mean(0), axis=1).max()
    assert scene_extent(cams, np.zeros((0, 3))) == pytest.approx(expected)
    # a single camera: fall back to the Gaussians' spread
    means = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0]], dtype=np.float32)
    assert scene_extent([_cam_at([0, 0, 5])], means) == pytest.approx(1.1 * np.quantile([0, 1, 1], 0.95))
