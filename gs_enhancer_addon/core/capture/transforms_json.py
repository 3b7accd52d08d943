"""nerfstudio / instant-ngp / NeRF-synthetic `transforms.json` -> Camera list.

What the file holds: per frame, `transform_matrix`, a camera-to-world matrix with OpenGL /
Blender camera axes (x right, y up, z backward); intrinsics `fl_x fl_y cx cy w h` (pixels, pixel
centres at +0.5 as in core/cameras.py) at top level or per frame, or only `camera_angle_x`
(NeRF-synthetic, principal point at the image centre, size read from the image file).
Distortion (`k1 k2 k3 k4 p1 p2`) is kept in `metadata["distortion"]` but not applied; fisheye and
equirectangular `camera_model`s are refused.

Which world the cameras are placed in (`world`), to line up with a splat trained on the same data:
- "file": the file's own world. INRIA 3DGS and gsplat train on transforms.json in this world.
- "original": undo nerfstudio's `applied_transform` / `applied_scale` (written by
  `ns-process-data`), i.e. the COLMAP world the file was made from: for a splat trained by INRIA
  3DGS / gsplat on that COLMAP model. Same as "file" when the keys are absent.
- "nerfstudio": the world nerfstudio trains in (splatfacto's exported .ply): the "original"
  world mapped by `dataparser_transforms.json` (`transform` 3x4, `scale`), which nerfstudio
  writes next to the trained model and which already includes `applied_transform`.
- "ngp": instant-ngp's own world (`nerf_matrix_to_ngp`: translation * scale + offset, then the
  axes cycled xyz <- yzx), with `scale` (default 0.33) and `offset` (default 0.5, 0.5, 0.5)
  from the file. instant-ngp's `from_mitsuba` variant is not supported.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from ..cameras import GL_TO_CV, Camera, inverted_pose
from ..errors import InputError
from ._checks import checked_reader

World = Literal["file", "original", "nerfstudio", "ngp"]
WORLDS = ("file", "original", "nerfstudio", "ngp")

# instant-ngp cycles the world axes: new (x, y, z) = old (y, z, x).
_NGP_CYCLE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
_DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
_IMAGE_SUFFIXES = ("", ".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")


@checked_reader
def read_transforms_json(
    path: str | Path,
    world: World = "file",
    dataparser_transforms: str | Path | None = None,
) -> list[Camera]:
    """Cameras of a transforms.json, sorted by image file path; see the module docstring for `world`."""
    path = Path(path)
    meta = _load_json(path)
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InputError(f"{path.name} has no 'frames' list; is it a nerfstudio / instant-ngp transforms.json?")
    if world not in WORLDS:
        raise InputError(f"Unknown world '{world}'; use one of {', '.join(WORLDS)}.")
    scale, rotation, translation = _world_similarity(meta, world, dataparser_transforms, path)
    cameras = [_frame_camera(meta, frame, i, path, (scale, rotation, translation)) for i, frame in enumerate(frames)]
    return sorted(cameras, key=lambda c: c.metadata["file_path"])


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a transforms.json (expected a JSON object).")
    return data


def _frame_camera(meta: dict, frame: dict, index: int, path: Path, similarity: tuple) -> Camera:
    if not isinstance(frame, dict):
        raise InputError(f"{path.name}: frame {index} is not a JSON object.")
    file_path = str(frame.get("file_path", ""))
    photo = _find_image(path.parent, file_path)
    c2w_gl = _matrix(frame.get("transform_matrix"), path, file_path)
    c2w = _apply_similarity(c2w_gl @ GL_TO_CV, *similarity)
    w2c = inverted_pose(c2w, f"{path.name}: frame '{file_path}'")
    K, width, height = _intrinsics({**meta, **frame}, photo, path, file_path)
    camera_model = str(frame.get("camera_model", meta.get("camera_model", "OPENCV")))
    if "FISHEYE" in camera_model.upper() or "EQUIRECT" in camera_model.upper():
        raise InputError(f"{path.name}: camera model {camera_model} is not supported (pinhole cameras only).")
    metadata = {"source": "transforms.json", "file_path": file_path, "camera_model": camera_model}
    distortion = {k: float(frame.get(k, meta.get(k, 0.0))) for k in _DISTORTION_KEYS}
    if any(distortion.values()):
        metadata["distortion"] = distortion
    name = Path(file_path).name or f"frame_{index:04d}"
    return Camera(K, w2c, width, height, name, str(photo) if photo else None, metadata)


def _matrix(value, path: Path, file_path: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        m = None
    if m is None or m.shape not in ((4, 4), (3, 4)) or not np.isfinite(m).all():
        raise InputError(f"{path.name}: frame '{file_path}' has no valid 4x4 'transform_matrix'.")
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    return m


def _intrinsics(values: dict, photo: Optional[Path], path: Path, file_path: str) -> tuple[np.ndarray, int, int]:
    width, height = values.get("w"), values.get("h")
    if width is None or height is None:
        size = _image_size(photo) if photo else None
        if size is None:
            raise InputError(
                f"{path.name}: no image size ('w', 'h') for frame '{file_path}', and its image cannot be read."
            )
        width, height = size
    width, height = int(width), int(height)
    fx, fy = values.get("fl_x"), values.get("fl_y")
    if fx is None and "camera_angle_x" in values:
        fx = 0.5 * width / math.tan(0.5 * float(values["camera_angle_x"]))
    if fy is None and "camera_angle_y" in values:
        fy = 0.5 * height / math.tan(0.5 * float(values["camera_angle_y"]))
    if fx is None and fy is None:
        raise InputError(f"{path.name}: no focal length ('fl_x' or 'camera_angle_x') for frame '{file_path}'.")
    fx = float(fx if fx is not None else fy)
    fy = float(fy if fy is not None else fx)
    cx = float(values.get("cx", width / 2.0))
    cy = float(values.get("cy", height / 2.0))
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), width, height


# ----------------------------------------------------------------------------------------------
# World frames: a similarity p' = s * R @ p + t applied to the camera centres and rotations


def _apply_similarity(c2w: np.ndarray, s: float, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = R @ c2w[:3, :3]
    out[:3, 3] = s * (R @ c2w[:3, 3]) + t
    return out


def _world_similarity(meta: dict, world: World, dataparser: str | Path | None, path: Path):
    identity = (1.0, np.eye(3), np.zeros(3))
    if world == "file":
        return identity
    if world == "ngp":
        scale = float(meta.get("scale", 0.33))
        offset = np.asarray(meta.get("offset", [0.5, 0.5, 0.5]), dtype=np.float64)
        return scale, _NGP_CYCLE, _NGP_CYCLE @ offset
    original = _undo_applied(meta, path)
    if world == "original":
        return original
    if dataparser is None:
        raise InputError("The nerfstudio world needs the dataparser_transforms.json of the trained model.")
    dp = _load_json(Path(dataparser))
    T = _matrix(dp.get("transform"), Path(dataparser), "transform")
    s_dp = float(dp.get("scale", 1.0))
    s0, R0, t0 = original
    R_dp = _rotation_part(T[:3, :3], Path(dataparser))
    return s_dp * s0, R_dp @ R0, s_dp * (R_dp @ t0 + T[:3, 3])


def _undo_applied(meta: dict, path: Path):
    """Inverse of nerfstudio's applied transform: p_file = applied_scale * (A @ p_original)."""
    A = _matrix(meta.get("applied_transform", np.eye(4)[:3].tolist()), path, "applied_transform")
    s = float(meta.get("applied_scale", 1.0))
    R = _rotation_part(A[:3, :3], path).T
    return 1.0 / s, R, -R @ A[:3, 3]


def _rotation_part(M: np.ndarray, path: Path) -> np.ndarray:
    if not np.allclose(M @ M.T, np.eye(3), atol=1e-4) or np.linalg.det(M) < 0:
        raise InputError(f"{path.name}: the world transform is not a rotation; this import supports rigid transforms only.")
    return M


# ----------------------------------------------------------------------------------------------
# Image files


def _find_image(folder: Path, file_path: str) -> Optional[Path]:
    if not file_path:
        return None
    base = folder / file_path
    for suffix in _IMAGE_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _image_size(path: Path) -> Optional[tuple[int, int]]:
    """(width, height) from a PNG or JPEG header, without an image library."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
            if head[:8] == b"\x89PNG\r\n\x1a\n":
                return struct.unpack(">II", head[16:24])
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(f)
    except OSError:
        return None
    return None


def _jpeg_size(f) -> Optional[tuple[int, int]]:
    f.seek(2)
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        if marker[1] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            f.read(3)  # segment length (2) + precision (1)
            height, width = struct.unpack(">HH", f.read(4))
            return width, height
        (length,) = struct.unpack(">H", f.read(2))
        f.seek(length - 2, 1)
