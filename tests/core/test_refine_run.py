"""refine() end to end on a tiny scene with the real renderer (CPU reference; gsplat on CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.cameras import Camera
from gs_enhancer_addon.core.errors import Cancelled, InputError
from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.refine import RefineConfig, TrainingView, pixel_confidence, refine, view_loss
from gs_enhancer_addon.core.render import render
from tests.builders import assert_same_scene

SIZE = 16


def look_at_camera(eye, target=(0.0, 0.0, 0.0), size: int = SIZE, focal: float = 18.0) -> Camera:
    """OpenCV camera (x right, y down, z forward) at `eye` looking at `target`, world +Z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    w2c = np.eye(4)
    w2c[:3, :3] = np.stack([right, down, fwd])
    w2c[:3, 3] = -w2c[:3, :3] @ eye
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]])
    return Camera(K=K, world_to_cam=w2c, width=size, height=size, name=f"cam{tuple(np.round(eye, 2))}")


def tiny_scene(seed: int, n: int = 60) -> GaussianScene:
    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=rng.uniform(-0.6, 0.6, (n, 3)).astype(np.float32),
        quats=rng.normal(size=(n, 4)).astype(np.float32),
        log_scales=np.log(rng.uniform(0.08, 0.2, (n, 3))).astype(np.float32),
        opacity_logits=rng.uniform(0.5, 2.5, n).astype(np.float32),
        sh=rng.normal(0, 1.0, (n, 4, 3)).astype(np.float32),  # degree 1: exercises sh0 + shN
    )


def cameras() -> list[Camera]:
    return [look_at_camera((2.5 * np.cos(a), 2.5 * np.sin(a), 0.8)) for a in np.linspace(0, 1.5, 3)]


def target_views(confidences=(1.0, 0.5, 0.8), reference=(True, False, False)) -> list[TrainingView]:
    truth = tiny_scene(seed=1).to_torch()
    views = []
    for cam, c, r in zip(cameras(), confidences, reference):
        img = render(truth, [cam]).rgb[0].detach().numpy()
        views.append(TrainingView(camera=cam, image=img, confidence=c, is_reference=r))
    return views


def total_loss(scene: GaussianScene, views: list[TrainingView], cfg: RefineConfig) -> float:
    g = scene.to_torch()
    total = 0.0
    for v in views:
        out = render(g, [v.camera], features=torch.exp(g.log_scales))
        w = 1.0 if v.is_reference else v.confidence
        p = None if v.is_reference else pixel_confidence(out.features[0], out.alpha[0])
        total += view_loss(out.rgb[0], torch.as_tensor(v.image), w, p, cfg.ssim_weight).item()
    return total


def copy_scene(s: GaussianScene) -> GaussianScene:
    return GaussianScene(*(a.copy() for a in (s.means, s.quats, s.log_scales, s.opacity_logits, s.sh)))


def assert_same(a: GaussianScene, b: GaussianScene) -> None:
    for f in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_short_run_lowers_the_loss_and_leaves_the_input_unchanged():
    start = tiny_scene(seed=0)
    before = copy_scene(start)
    views = target_views()
    cfg = RefineConfig(iterations=30, scene_extent=1.0)
    reports = []
    out = refine(start, views, cfg, progress=lambda f, m: reports.append(f))
    assert_same(start, before)  # the input is never modified
    assert len(out) == len(start) and out.sh.shape == start.sh.shape
    assert total_loss(out, views, cfg) < 0.85 * total_loss(start, views, cfg)
    assert reports[-1] == 1.0 and reports == sorted(reports)


def test_zero_confidence_view_leaves_gaussians_unchanged():
    start = tiny_scene(seed=0)
    views = target_views(confidences=(0.0,), reference=(False,))
    out = refine(start, views, RefineConfig(iterations=5))
    assert_same(out, start)
    # with a reference view present, adding a zero-confidence view changes nothing either
    ref_and_zero = target_views(confidences=(1.0, 0.0), reference=(True, False))
    cfg = RefineConfig(iterations=4, scene_extent=1.0)
    assert_same(refine(start, ref_and_zero, cfg), refine(start, ref_and_zero[:1], cfg))


def test_freeze_geometry_changes_colors_only():
    start = tiny_scene(seed=0)
    out = refine(start, target_views(), RefineConfig(iterations=3, freeze_geometry=True))
    for f in ("means", "quats", "log_scales", "opacity_logits"):
        np.testing.assert_array_equal(getattr(out, f), getattr(start, f), err_msg=f)
    assert not np.array_equal(out.sh, start.sh)


def test_cancel_raises_within_one_iteration_and_leaves_the_input_alone():
    start = tiny_scene(seed=0)
    snapshot = start.copy()
    steps = []
    with pytest.raises(Cancelled):
        refine(start, target_views(), RefineConfig(iterations=50),
               progress=lambda f, m: steps.append(f), cancel=lambda: len(steps) >= 3)
    assert 3 <= len(steps) <= 4, "asked to stop after step 3 (progress is reported every step here)"
    assert_same_scene(start, snapshot)


def test_bad_inputs_raise_user_errors():
    start = tiny_scene(seed=0)
    v = target_views()[0]
    with pytest.raises(InputError, match="image"):
        refine(start, [TrainingView(v.camera, v.image[:8], 1.0)], RefineConfig(iterations=1))
    with pytest.raises(InputError, match="confidence"):
        refine(start, [TrainingView(v.camera, v.image, 1.5)], RefineConfig(iterations=1))
    with pytest.raises(InputError):
        refine(start, [], RefineConfig(iterations=1))


@pytest.mark.cuda
def test_cuda_run_with_gsplat_densification():
    start = tiny_scene(seed=0, n=200)
    cfg = RefineConfig(
        iterations=60, densify=True, densify_start_iter=10, densify_every=10,
        densify_grad_threshold=1e-6, scene_extent=1.0,
    )  # fmt: skip
    views = target_views()
    out = refine(start, views, cfg, device="cuda")
    assert len(out) != len(start)  # gsplat's strategy cloned/split/pruned Gaussians
    assert np.isfinite(out.means).all()
    assert total_loss(out, views, cfg) < total_loss(start, views, cfg)


def test_pixel_confidence_from_rendered_scales_is_higher_where_gaussians_are_larger():
    # Left half of the view: many small Gaussians; right half: a few large ones (same opacity).
    rng = np.random.default_rng(3)
    small = np.stack([rng.uniform(-0.9, -0.1, 200), np.zeros(200), rng.uniform(-0.5, 0.5, 200)], 1)
    large = np.stack([rng.uniform(0.1, 0.9, 12), np.zeros(12), rng.uniform(-0.5, 0.5, 12)], 1)
    means = np.concatenate([small, large]).astype(np.float32)
    scales = np.concatenate([np.full((200, 3), 0.05), np.full((12, 3), 0.25)])
    n = len(means)
    scene = GaussianScene(
        means, np.tile(np.float32([1, 0, 0, 0]), (n, 1)), np.log(scales).astype(np.float32),
        np.full(n, 3.0, np.float32), np.zeros((n, 1, 3), np.float32),
    )  # fmt: skip
    cam = look_at_camera((0.0, -2.5, 0.0), size=24, focal=20.0)  # x world = image right
    g = scene.to_torch()
    out = render(g, [cam], features=torch.exp(g.log_scales))
    p = pixel_confidence(out.features[0], out.alpha[0])
    covered = out.alpha[0, ..., 0] > 0.9
    left, right = covered.clone(), covered.clone()
    left[:, 12:], right[:, :12] = False, False
    assert left.sum() > 20 and right.sum() > 20
    assert p[right].mean() > 2.5 * p[left].mean()  # sizes differ 5x; P_c follows
