"""Small scenes and cameras shared by the tests (numpy only: usable in the torch-free bpy 4.2 leg)."""

from __future__ import annotations

import numpy as np

from gs_enhancer_addon.core.cameras import Camera, look_at
from gs_enhancer_addon.core.gaussians import FIELDS, GaussianScene


def random_scene(n: int = 40, degree: int = 3, seed: int = 0) -> GaussianScene:
    """Unstructured random Gaussians (file and object round trips: any values must survive)."""
    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=rng.standard_normal((n, 3)).astype(np.float32),
        quats=rng.standard_normal((n, 4)).astype(np.float32),
        log_scales=rng.uniform(-4, 0, (n, 3)).astype(np.float32),
        opacity_logits=rng.standard_normal(n).astype(np.float32),
        sh=rng.standard_normal((n, (degree + 1) ** 2, 3)).astype(np.float32),
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
