"""Camera: pinhole intrinsics and pose in the OpenCV convention; the projection and look-at helpers.

Conventions (shared with gsplat and the INRIA 3DGS code):
- camera axes: x right, y down, z forward (Blender cameras look down -Z with +Y up);
- `world_to_cam` maps homogeneous world points to camera coordinates;
- `K` maps camera coordinates to continuous pixel coordinates, where the centre of pixel
  (col i, row j) is at (i + 0.5, j + 0.5) and the image spans [0, width] x [0, height].
This module imports numpy only (the torch-free bpy 4.2 test leg uses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .errors import InputError

@dataclass
class Camera:
    K: np.ndarray  # [3, 3] float64 intrinsics, pixels
    world_to_cam: np.ndarray  # [4, 4] float64, OpenCV convention
    width: int
    height: int
    name: str = ""
    image_path: Optional[str] = None  # the real photo of this view, when the capture has one
    metadata: dict = field(default_factory=dict)

    @property
    def cam_to_world(self) -> np.ndarray:  # [4, 4]
        return np.linalg.inv(self.world_to_cam)

    @property
    def center(self) -> np.ndarray:  # [3] camera position in world coordinates
        return self.cam_to_world[:3, 3]


# ----------------------------------------------------------------------------------------------
# Small geometry helpers (numpy only)

# Camera axes of OpenGL / Blender (x right, y up, z backward) -> OpenCV (x right, y down, z forward):
# flip the y and z columns of a camera-to-world matrix.
GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def project_points(
    camera: Camera,
    points: np.ndarray,  # [N, 3] world coordinates
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates [N, 2] (pixel-centre convention above) and depths [N] (z_cam)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    cam = points @ camera.world_to_cam[:3, :3].T + camera.world_to_cam[:3, 3]
    depth = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = cam @ camera.K.T
        uv = uvw[:, :2] / uvw[:, 2:3]
    return uv, depth


def rigid_world_to_cam(rotation_c2w: np.ndarray, center: np.ndarray) -> np.ndarray:  # [4, 4]
    """world_to_cam from a camera-to-world rotation [3, 3] (OpenCV camera axes) and a centre [3]."""
    R = np.asarray(rotation_c2w, dtype=np.float64)
    w2c = np.eye(4)
    w2c[:3, :3] = R.T
    w2c[:3, 3] = -R.T @ np.asarray(center, dtype=np.float64)
    return w2c


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)) -> np.ndarray:
    """world_to_cam [4, 4] (OpenCV axes) of a camera at `eye` looking at `target`, `up` roughly up."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise InputError("look_at: the view direction is parallel to 'up'; choose another up vector.")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return rigid_world_to_cam(np.stack([x, y, z], axis=1), eye)
