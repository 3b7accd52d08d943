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


# ----------------------------------------------------------------------------------------------
# One validation for every camera, whatever it came from (cams.json, transforms.json, COLMAP,
# Blender): the capture readers and the job both call check_cameras.

MAX_IMAGE_SIDE = 16384  # pixels; larger views are refused before anything is allocated


def check_cameras(cameras: Sequence[Camera], source: str = "") -> None:
    """Raise InputError naming the first camera that cannot be used: non-finite or malformed K or
    pose, a pose that is not invertible (singular or not a rotation), a focal length that is not
    positive, or an image size outside 1..MAX_IMAGE_SIDE pixels. `source`: the file, for messages."""
    where = f"{source}: " if source else ""
    for index, camera in enumerate(cameras):
        problem = camera_problem(camera)
        if problem:
            name = f"'{camera.name}'" if camera.name else str(index)
            raise InputError(f"{where}camera {name} {problem}.")


def camera_problem(camera: Camera) -> str:
    """What makes `camera` unusable, in words ('' when it is fine)."""
    K, w2c = np.asarray(camera.K), np.asarray(camera.world_to_cam)
    if K.shape != (3, 3) or w2c.shape != (4, 4):
        return f"needs a 3x3 K and a 4x4 pose (got {K.shape} and {w2c.shape})"
    if not (np.isfinite(K).all() and np.isfinite(w2c).all()):
        return "has NaN or infinite values in its intrinsics or pose"
    for side, value in (("width", camera.width), ("height", camera.height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return f"has a {side} that is not a whole number ({value!r})"
        if not 1 <= value <= MAX_IMAGE_SIDE:
            return f"has an image {side} of {value} pixels; use 1 to {MAX_IMAGE_SIDE}"
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        return f"has a focal length that is not positive (fx={K[0, 0]:g}, fy={K[1, 1]:g})"
    return pose_problem(w2c)


def pose_problem(matrix: np.ndarray) -> str:
    """'' when the 4x4 `matrix` is a rigid pose (rotation + translation, last row 0 0 0 1), else
    what is wrong. Scale is tolerated (some tools write scaled poses); a singular or mirrored
    3x3 part, or a projective last row, is not."""
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        return "has a pose whose last row is not 0 0 0 1"
    R = matrix[:3, :3]
    det = float(np.linalg.det(R))
    if not np.isfinite(det) or abs(det) < 1e-9:
        return "has a singular pose matrix (it cannot be inverted)"
    if det < 0:
        return "has a mirrored pose matrix (negative determinant)"
    s = det ** (1.0 / 3.0)
    if not np.allclose(R @ R.T / (s * s), np.eye(3), atol=1e-3):
        return "has a pose whose 3x3 part is not a rotation (sheared or non-uniformly scaled)"
    return ""


def inverted_pose(matrix: np.ndarray, what: str) -> np.ndarray:  # [4, 4]
    """The inverse of a 4x4 pose, or InputError saying `what` is not invertible."""
    problem = pose_problem(np.asarray(matrix, dtype=np.float64))
    if problem:
        raise InputError(f"{what} {problem}.")
    return np.linalg.inv(matrix)


def visible_fraction(
    camera: Camera,
    points: np.ndarray,  # [N, 3] world coordinates (e.g. the splat centres)
) -> float:
    """The fraction of `points` in front of the camera and inside its image."""
    uv, depth = project_points(camera, points)
    with np.errstate(invalid="ignore"):
        inside = (depth > 1e-6) & (uv[:, 0] >= 0) & (uv[:, 0] <= camera.width) & (uv[:, 1] >= 0) & (
            uv[:, 1] <= camera.height)
    return float(np.count_nonzero(inside)) / max(len(points), 1)
