"""The warp-based view-consistency measure (bench/consistency.py) on geometry with a known answer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.cameras import Camera
from gs_enhancer_addon.core.enhance.losses import unit_feature_distances

ROOT = Path(__file__).resolve().parents[2]
W, H, FOCAL, DEPTH, BASELINE = 24, 16, 20.0, 4.0, 0.8
SHIFT = int(FOCAL * BASELINE / DEPTH)  # 4 px: a point at depth d moves f * b / d pixels


@pytest.fixture(scope="module")
def consistency():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import consistency

        yield consistency
    finally:
        sys.path.remove(str(ROOT / "bench"))
        sys.modules.pop("consistency", None)


def camera_at(x: float) -> Camera:
    """Looking down +z (OpenCV), its centre at (x, 0, 0): cameras that differ by a sideways shift."""
    K = np.array([[FOCAL, 0, W / 2], [0, FOCAL, H / 2], [0, 0, 1.0]])
    w2c = np.eye(4)
    w2c[0, 3] = -x
    return Camera(K=K, world_to_cam=w2c, width=W, height=H)


def test_a_fronto_parallel_plane_warps_by_the_exact_pixel_shift(consistency):
    """Plane z = DEPTH seen by two cameras BASELINE apart: view 1 warped into view 0 is view 1 moved
    SHIFT pixels right, exactly; the columns whose source falls off view 1 are masked out."""
    source_image = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(0))
    plane, covered = torch.full((H, W), DEPTH), torch.ones(H, W)
    warped, mask = consistency.warp_into(source_image, plane, camera_at(BASELINE), plane, covered, camera_at(0.0))
    assert torch.equal(mask, (torch.arange(W) >= SHIFT).expand(H, W))
    torch.testing.assert_close(warped[:, SHIFT:], source_image[:, : W - SHIFT], atol=1e-5, rtol=0)
    assert consistency.masked_rmse(warped, torch.roll(source_image, SHIFT, dims=1), mask) < 1e-5


def test_occluded_and_uncovered_pixels_are_masked_out(consistency):
    source_image = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(1))
    source_depth, covered = torch.full((H, W), DEPTH), torch.ones(H, W)
    source_depth[:, 10:14] = 0.5 * DEPTH  # something nearer hides the plane there in view 1
    covered[:2] = 0.0  # nothing drawn in the top rows of view 0
    _, mask = consistency.warp_into(source_image, source_depth, camera_at(BASELINE), torch.full((H, W), DEPTH),
                                    covered, camera_at(0.0))
    expected = (torch.arange(W) >= SHIFT).expand(H, W).clone()
    expected[:, 10 + SHIFT:14 + SHIFT] = False  # target columns that land on the occluder
    expected[:2] = False
    assert torch.equal(mask, expected)


def test_feature_distance_uses_the_lpips_recipe_on_the_valid_pixels(consistency):
    """Full mask: the sum over layers of the mean unit-feature distance; channel scaling is ignored."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
    features = lambda x: [net(x), net(x)[..., ::2, ::2]]  # noqa: E731 - two "layers"
    a, b = torch.rand(H, W, 3), torch.rand(H, W, 3)
    full = torch.ones(H, W, dtype=torch.bool)
    with torch.no_grad():
        expected = sum(float(d.mean()) for d in unit_feature_distances(features(a.permute(2, 0, 1)[None]),
                                                                        features(b.permute(2, 0, 1)[None])))
        scaled = unit_feature_distances([3.0 * f for f in features(a.permute(2, 0, 1)[None])],
                                        features(b.permute(2, 0, 1)[None]))
    assert consistency.masked_feature_distance(features, a, b, full) == pytest.approx(expected, rel=1e-5)
    assert sum(float(d.mean()) for d in scaled) == pytest.approx(expected, rel=1e-4)
    assert consistency.masked_feature_distance(features, a, a, full) == 0.0
