"""The built-in samples.

- `sample_scene` / `sample_cameras`: a small procedural splat and reference cameras around it, for
  tests, so that the whole pipeline runs on any machine without a capture. Deterministic for a
  seed: a coloured sphere (SH degree 1, so views differ a little) standing on a checkered ground
  disc, seen by cameras on a ring.
- `heldout_sample`: what the demo (README command 1) enhances: a capture with known truth that
  the small trained model set never saw (a held-out scene of scripts/enhancer_proof.py: 48 Cycles
  photos along an orbit, 128 x 96) and its low-view splat, fitted to 3 of the photos (0, 24, 47) by
  make-pairs. The other 45 photos measure the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cameras import Camera, look_at
from .gaussians import SH_C0, GaussianScene
from .geometry import quats_from_z_to


@dataclass
class SampleConfig:
    sphere_gaussians: int = 1200  # Gaussians on the sphere's surface
    ground_gaussians: int = 800  # Gaussians on the ground disc
    sphere_radius: float = 1.0
    ground_radius: float = 2.5
    reference_cameras: int = 4  # cameras on the ring (the reference views)
    camera_distance: float = 4.5
    camera_height: float = 1.5
    width: int = 64  # render size of every camera
    height: int = 48
    focal_mm: float = 35.0  # with a 36 mm sensor, as Blender's default camera
    seed: int = 0


HELDOUT_SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample" / "heldout-scene"


@dataclass
class CaptureSample:
    scene: GaussianScene  # the low-view splat: fitted to the reference photos only
    cameras: list[Camera]  # every camera of the capture, in capture order, each with its photo
    references: list[int]  # indices of the photos the splat was fitted to (the rest are held out)

    @property
    def heldout(self) -> list[int]:
        return [i for i in range(len(self.cameras)) if i not in self.references]


def heldout_sample(folder: Path = HELDOUT_SAMPLE_DIR) -> CaptureSample:
    """The demo's scene (module doc): `transforms.json` + `images/`, `low-view.ply`, `references.json`."""
    import json

    from .capture import load_cameras
    from .errors import InputError
    from .io import read_scene

    if not (folder / "references.json").is_file():
        raise InputError(f"The demo's sample scene is missing ({folder}); reinstall or re-clone the add-on.")
    references = [int(i) for i in json.loads((folder / "references.json").read_text())["references"]]
    return CaptureSample(read_scene(folder / "low-view.ply"), load_cameras(folder / "transforms.json"), references)


def sample_scene(config: SampleConfig | None = None) -> GaussianScene:
    """A sphere on a ground disc, in Blender's Z-up world, float32 arrays per the contract."""
    config = config or SampleConfig()
    rng = np.random.default_rng(config.seed)
    sphere = _sphere(config.sphere_gaussians, config.sphere_radius, rng)
    ground = _ground(config.ground_gaussians, config.ground_radius, rng)
    return GaussianScene.concat([sphere, ground])


def sample_cameras(config: SampleConfig | None = None) -> list[Camera]:
    """Reference cameras evenly spaced on a ring, all looking at the sphere's centre."""
    config = config or SampleConfig()
    focal_px = config.focal_mm / 36.0 * config.width
    K = np.array([[focal_px, 0, config.width / 2], [0, focal_px, config.height / 2], [0, 0, 1]])
    cameras = []
    for i in range(config.reference_cameras):
        angle = 2 * np.pi * i / config.reference_cameras
        eye = (config.camera_distance * np.cos(angle), config.camera_distance * np.sin(angle), config.camera_height)
        cameras.append(Camera(K=K.copy(), world_to_cam=look_at(eye, (0, 0, config.sphere_radius)),
                              width=config.width, height=config.height, name=f"Reference.{i:03d}"))
    return cameras


def _sphere(n: int, radius: float, rng: np.random.Generator) -> GaussianScene:
    # Fibonacci sphere: even coverage without clumps.
    k = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * k / n)
    azimuth = np.pi * (1 + 5**0.5) * k
    normals = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    means = normals * radius + np.array([0.0, 0.0, radius])
    colors = 0.5 + 0.4 * normals  # a smooth rainbow over the surface
    spacing = radius * np.sqrt(4 * np.pi / n)
    scales = np.full((n, 3), spacing * 0.6)
    scales[:, 2] *= 0.3  # flattened discs...
    quats = quats_from_z_to(normals)  # ...lying on the surface
    sh = np.zeros((n, 4, 3))
    sh[:, 0] = (colors - 0.5) / SH_C0
    sh[:, 1:] = rng.normal(0.0, 0.05, size=(n, 3, 3))  # mild view dependence
    return _scene(means, quats, scales, np.full(n, 0.9), sh)


def _ground(n: int, radius: float, rng: np.random.Generator) -> GaussianScene:
    r = radius * np.sqrt(rng.random(n))
    theta = 2 * np.pi * rng.random(n)
    means = np.stack([r * np.cos(theta), r * np.sin(theta), np.zeros(n)], axis=1)
    checker = (np.floor(means[:, 0] * 2) + np.floor(means[:, 1] * 2)) % 2
    colors = np.where(checker[:, None] > 0, [0.85, 0.82, 0.75], [0.25, 0.3, 0.35])
    spacing = radius * np.sqrt(np.pi / n)
    scales = np.stack([np.full(n, spacing), np.full(n, spacing), np.full(n, spacing * 0.1)], axis=1)
    quats = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    sh = np.zeros((n, 4, 3))
    sh[:, 0] = (colors - 0.5) / SH_C0
    return _scene(means, quats, scales, np.full(n, 0.95), sh)


def _scene(means, quats, scales, opacity, sh) -> GaussianScene:
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return GaussianScene(means=f32(means), quats=f32(quats), log_scales=f32(np.log(scales)),
                         opacity_logits=f32(np.log(opacity / (1 - opacity))), sh=f32(sh))
