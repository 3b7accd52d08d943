"""Small scenes, cameras and models shared by the tests and the benchmarks (numpy only at import:
usable in the torch-free bpy 4.2 leg; `tiny_style_models` imports torch when called)."""

from __future__ import annotations

import numpy as np

from gs_enhancer_addon.core.cameras import Camera, look_at
from gs_enhancer_addon.core.gaussians import FIELDS, SH_C0, GaussianScene


def random_scene(n: int = 40, degree: int = 3, seed: int = 0, *, spread: float = 0.5,
                 scale: tuple[float, float] = (0.03, 0.15), opacity: float = 0.0) -> GaussianScene:
    """Unstructured random anisotropic Gaussians around the origin: means N(0, spread), scales uniform
    in `scale`, opacity logits N(opacity, 1), SH N(0, 0.4). File and object round trips take any values;
    renderer tests look at them from ~3 units."""
    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=rng.normal(0, spread, (n, 3)).astype(np.float32),
        quats=rng.normal(size=(n, 4)).astype(np.float32),
        log_scales=np.log(rng.uniform(*scale, (n, 3))).astype(np.float32),
        opacity_logits=rng.normal(opacity, 1.0, n).astype(np.float32),
        sh=rng.normal(0, 0.4, (n, (degree + 1) ** 2, 3)).astype(np.float32),
    )


def assert_same_scene(a: GaussianScene, b: GaussianScene) -> None:
    """Bit-identical float32 arrays, field by field."""
    for name in FIELDS:
        assert getattr(b, name).dtype == np.float32, name
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def camera_looking_at(eye, target=(0.0, 0.0, 0.0), width: int = 32, height: int = 24, focal: float = 30.0,
                      name: str = "") -> Camera:
    """A pinhole camera at `eye` looking at `target` (world +Z up), principal point at the centre."""
    K = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    return Camera(K=K, world_to_cam=look_at(eye, target), width=width, height=height, name=name)


def focal_for_fov(size: int, fov_deg: float = 50.0) -> float:
    """Focal length in pixels giving a `fov_deg` field of view across `size` pixels."""
    return 0.5 * size / np.tan(np.radians(fov_deg) / 2)


def arc_cameras(count: int, size: int = 32, radius: float = 3.0, span_deg: float = 70.0) -> list[Camera]:
    """`count` square 50-degree cameras on a horizontal arc around the origin, slightly above it, looking at it."""
    angles = np.radians(np.linspace(-span_deg / 2, span_deg / 2, count))
    return [camera_looking_at((radius * np.sin(a), -radius * np.cos(a), 0.8), (0.0, 0.0, 0.0), size, size,
                              focal_for_fov(size), name=f"view{i:02d}") for i, a in enumerate(angles)]


def checker_blob(count: int = 600, seed: int = 0) -> GaussianScene:
    """A colourful Gaussian blob: a checker-coloured sphere shell plus a ground plane (stylization tests)."""
    rng = np.random.default_rng(seed)
    shell = rng.normal(size=(count // 2, 3))
    shell = 0.8 * shell / np.linalg.norm(shell, axis=1, keepdims=True)
    ground = np.column_stack([rng.uniform(-1.5, 1.5, (count - count // 2, 2)), np.full(count - count // 2, -0.8)])
    means = np.concatenate([shell, ground]).astype(np.float32)
    checker = (np.floor(means[:, 0] * 3) + np.floor(means[:, 1] * 3) + np.floor(means[:, 2] * 3)) % 2
    rgb = np.where(checker[:, None] > 0, [0.9, 0.5, 0.2], [0.2, 0.4, 0.8]) + rng.normal(0, 0.05, (count, 3))
    sh = ((np.clip(rgb, 0.02, 0.98) - 0.5) / SH_C0).astype(np.float32)[:, None, :]
    quats = np.tile(np.array([1, 0, 0, 0], np.float32), (count, 1))
    log_scales = np.full((count, 3), np.log(0.09), np.float32)
    opacity = np.full(count, 2.0, np.float32)
    return GaussianScene(means, quats, log_scales, opacity, sh)


def tiny_style_models(seed: int = 0, device: str = "cpu"):
    """(CLIP, VGG-19 features): a real open_clip ViT and a narrow VGG-19 with seeded random weights,
    no downloads. Numbers measured with them show the machinery, not real CLIP/VGG quality."""
    from gs_enhancer_addon.core.stylize.clip_model import tiny_clip  # torch: imported only when used
    from gs_enhancer_addon.core.stylize.vgg import tiny_vgg19

    return tiny_clip(seed, device), tiny_vgg19(seed).to(device)
