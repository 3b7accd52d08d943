"""COLMAP sparse model (cameras + images, text or binary) -> Camera list.

Conventions (COLMAP documentation, "Output Format"):
- images: `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`, the world-to-camera rotation as a
  quaternion (w first) and translation, camera axes x right, y down, z forward: the same
  OpenCV convention as `Camera.world_to_cam`, so the pose is taken as is;
- pixel coordinates: the centre of the top-left pixel is (0.5, 0.5), as in core/cameras.py, so
  the principal point is taken as is.
Supported camera models: every perspective model. The pinhole part (f or fx, fy, cx, cy) makes K;
the distortion coefficients of SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV are kept in
`metadata["distortion"]` but not applied (3DGS trains on undistorted images: run COLMAP's
image_undistorter first). Fisheye models are refused. `read_colmap_points` reads the sparse
points (points3D.bin / .txt: position and colour) when they exist.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Optional

import numpy as np

from ..cameras import Camera
from ..errors import InputError
from ..geometry import matrix_from_quat
from ._checks import checked_reader

# model id -> (name, number of parameters, perspective?)
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3, True),
    1: ("PINHOLE", 4, True),
    2: ("SIMPLE_RADIAL", 4, True),
    3: ("RADIAL", 5, True),
    4: ("OPENCV", 8, True),
    5: ("OPENCV_FISHEYE", 8, False),
    6: ("FULL_OPENCV", 12, True),
    7: ("FOV", 5, False),
    8: ("SIMPLE_RADIAL_FISHEYE", 4, False),
    9: ("RADIAL_FISHEYE", 5, False),
    10: ("THIN_PRISM_FISHEYE", 12, False),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16, False),
}
_MODEL_BY_NAME = {name: (mid, n, persp) for mid, (name, n, persp) in CAMERA_MODELS.items()}


@checked_reader
def read_colmap_model(model_dir: str | Path, images_dir: str | Path | None = None) -> list[Camera]:
    """Cameras of a COLMAP sparse model folder (e.g. `<capture>/sparse/0`), sorted by image name.

    Reads `cameras.bin` + `images.bin` when both exist, else `cameras.txt` + `images.txt`.
    `images_dir`: where the photos are; default `<capture>/images` (two levels up from
    `sparse/0`, or one up from `sparse`). `image_path` is set where the photo exists.
    """
    model_dir = Path(model_dir)
    if (model_dir / "cameras.bin").is_file() and (model_dir / "images.bin").is_file():
        intrinsics = _read_cameras_bin(model_dir / "cameras.bin")
        images = _read_images_bin(model_dir / "images.bin")
    elif (model_dir / "cameras.txt").is_file() and (model_dir / "images.txt").is_file():
        intrinsics = _read_cameras_txt(model_dir / "cameras.txt")
        images = _read_images_txt(model_dir / "images.txt")
    else:
        raise InputError(
            f"{model_dir} is not a COLMAP sparse model: it needs cameras.bin + images.bin "
            "or cameras.txt + images.txt (usually in <capture>/sparse/0)."
        )
    photos = Path(images_dir) if images_dir is not None else _default_images_dir(model_dir)
    cameras = [_to_camera(img, intrinsics, photos, model_dir) for img in images]
    return sorted(cameras, key=lambda c: c.name)


def _default_images_dir(model_dir: Path) -> Path:
    for candidate in (model_dir.parent.parent / "images", model_dir.parent / "images", model_dir / "images"):
        if candidate.is_dir():
            return candidate
    return model_dir.parent.parent / "images"


def _to_camera(image: dict, intrinsics: dict, photos: Path, model_dir: Path) -> Camera:
    cam_id = image["camera_id"]
    if cam_id not in intrinsics:
        raise InputError(f"{model_dir}: image '{image['name']}' uses camera {cam_id}, which the model does not define.")
    model, width, height, params = intrinsics[cam_id]
    K, distortion = _intrinsics(model, params, model_dir)
    if not np.linalg.norm(image["qvec"]) > 0:  # zero or NaN: no rotation to normalise
        raise InputError(f"{model_dir.name}: image '{image['name']}' has no valid rotation (quaternion "
                         f"{list(np.asarray(image['qvec']).tolist())}).")
    w2c = np.eye(4)
    w2c[:3, :3] = matrix_from_quat(image["qvec"])
    w2c[:3, 3] = image["tvec"]
    photo = photos / image["name"]
    meta = {"source": "colmap", "colmap_image_id": image["id"], "colmap_camera_id": cam_id, "camera_model": model}
    if distortion:
        meta["distortion"] = distortion
    return Camera(K, w2c, int(width), int(height), image["name"], str(photo) if photo.is_file() else None, meta)


def _intrinsics(model: str, p: np.ndarray, model_dir: Path) -> tuple[np.ndarray, list[float]]:
    if model not in _MODEL_BY_NAME or not _MODEL_BY_NAME[model][2]:
        raise InputError(
            f"{model_dir}: camera model {model} is not supported (fisheye or unknown); "
            "undistort the images with COLMAP's image_undistorter and import that model."
        )
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy, rest = p[1], p[2], p[3:]
    else:  # PINHOLE, OPENCV, FULL_OPENCV: fx fy cx cy ...
        fx, fy, cx, cy, rest = p[0], p[1], p[2], p[3], p[4:]
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return K, [float(v) for v in rest]  # positional (k1, k2, p1, p2, ...): zeros keep their place


# ----------------------------------------------------------------------------------------------
# Text format


def _data_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]


def _read_cameras_txt(path: Path) -> dict:
    cams = {}
    for line in _data_lines(path):
        fields = line.split()
        if not fields:
            continue
        try:
            cam_id, model, width, height = int(fields[0]), fields[1], int(fields[2]), int(fields[3])
            params = np.array([float(v) for v in fields[4:]])
        except (ValueError, IndexError) as exc:
            raise InputError(f"{path}: cannot read camera line '{line.strip()}' ({exc}).") from exc
        cams[cam_id] = (model, width, height, params)
    return cams


def _read_images_txt(path: Path) -> list[dict]:
    """Two lines per image; the second (2D points) may be empty, so lines are consumed in pairs."""
    lines = _data_lines(path)
    images, i = [], 0
    while i < len(lines):
        fields = lines[i].split(maxsplit=9)
        if not fields:  # blank line between records
            i += 1
            continue
        if len(fields) < 10:
            raise InputError(f"{path}: cannot read image line '{lines[i].strip()}'.")
        images.append(
            {
                "id": int(fields[0]),
                "qvec": np.array([float(v) for v in fields[1:5]]),
                "tvec": np.array([float(v) for v in fields[5:8]]),
                "camera_id": int(fields[8]),
                "name": fields[9].rstrip("\r\n"),
            }
        )
        i += 2  # skip the POINTS2D line, even when empty
    return images


# ----------------------------------------------------------------------------------------------
# Binary format (little-endian, as COLMAP writes it)


def _unpack(f: BinaryIO, fmt: str, path: Path) -> tuple:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise InputError(f"{path}: the file ends early; it is truncated or not a COLMAP binary model.")
    return struct.unpack("<" + fmt, data)


def _read_cameras_bin(path: Path) -> dict:
    cams = {}
    with open(path, "rb") as f:
        (count,) = _unpack(f, "Q", path)
        for _ in range(count):
            cam_id, model_id, width, height = _unpack(f, "iiQQ", path)
            if model_id not in CAMERA_MODELS:
                raise InputError(f"{path}: unknown COLMAP camera model id {model_id}.")
            name, n_params, _ = CAMERA_MODELS[model_id]
            params = np.array(_unpack(f, "d" * n_params, path))
            cams[cam_id] = (name, width, height, params)
    return cams


def _read_images_bin(path: Path) -> list[dict]:
    images = []
    with open(path, "rb") as f:
        (count,) = _unpack(f, "Q", path)
        for _ in range(count):
            image_id, qw, qx, qy, qz, tx, ty, tz, cam_id = _unpack(f, "idddddddi", path)
            name = _read_cstring(f, path)
            (n_points,) = _unpack(f, "Q", path)
            f.seek(n_points * 24, 1)  # (x: double, y: double, point3D_id: int64) each
            images.append(
                {
                    "id": image_id,
                    "qvec": np.array([qw, qx, qy, qz]),
                    "tvec": np.array([tx, ty, tz]),
                    "camera_id": cam_id,
                    "name": name,
                }
            )
    return images


def _read_cstring(f: BinaryIO, path: Path) -> str:
    chars = bytearray()
    while True:
        c = f.read(1)
        if not c:
            raise InputError(f"{path}: the file ends inside an image name; it is truncated.")
        if c == b"\x00":
            return chars.decode("utf-8")
        chars += c



# ----------------------------------------------------------------------------------------------
# Sparse points (points3D): `POINT3D_ID X Y Z R G B ERROR TRACK...`


def read_colmap_points(model_dir: str | Path) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(positions [N, 3] float64, colours [N, 3] float32 in [0, 1]) of a sparse model, or None when it
    has no points3D file (or no points)."""
    model_dir = Path(model_dir)
    if (model_dir / "points3D.bin").is_file():
        xyz, rgb = _read_points_bin(model_dir / "points3D.bin")
    elif (model_dir / "points3D.txt").is_file():
        xyz, rgb = _read_points_txt(model_dir / "points3D.txt")
    else:
        return None
    if not len(xyz):
        return None
    return np.asarray(xyz, dtype=np.float64).reshape(-1, 3), np.asarray(rgb, dtype=np.float32).reshape(-1, 3) / 255.0


def _read_points_txt(path: Path) -> tuple[list, list]:
    xyz, rgb = [], []
    for line in _data_lines(path):
        fields = line.split()
        if not fields:
            continue
        try:
            xyz.append([float(v) for v in fields[1:4]])
            rgb.append([int(v) for v in fields[4:7]])
        except (ValueError, IndexError) as exc:
            raise InputError(f"{path}: cannot read point line '{line.strip()[:80]}' ({exc}).") from exc
    return xyz, rgb


def _read_points_bin(path: Path) -> tuple[list, list]:
    xyz, rgb = [], []
    with open(path, "rb") as f:
        (count,) = _unpack(f, "Q", path)
        for _ in range(count):
            _, x, y, z, r, g, b, _, track = _unpack(f, "QdddBBBdQ", path)
            f.seek(track * 8, 1)  # (image_id: int32, point2D_idx: int32) each
            xyz.append([x, y, z])
            rgb.append([r, g, b])
    return xyz, rgb
