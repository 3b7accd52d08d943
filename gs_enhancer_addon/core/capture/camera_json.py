"""The project's own camera file (cams.json): the reference cameras of a path, in path order.

    {"format": "gs-enhancer-cameras", "version": 1,
     "cameras": [{"name": "Cam.001", "width": 640, "height": 480,
                  "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
                  "world_to_cam": [[...4 rows of 4...]],   # OpenCV axes (core/cameras.py)
                  "image_path": "photos/001.jpg"}]}       # optional, relative to the file

Written by `write_cameras_json` (e.g. from cameras placed in Blender), read by the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..cameras import Camera
from ..errors import InputError
from ._checks import checked_reader

FORMAT = "gs-enhancer-cameras"


def write_cameras_json(cameras: list[Camera], path: str | Path) -> None:
    path = Path(path)
    entries = []
    for cam in cameras:
        entry = {"name": cam.name, "width": int(cam.width), "height": int(cam.height), "K": cam.K.tolist(),
                 "world_to_cam": cam.world_to_cam.tolist()}
        if cam.image_path:
            entry["image_path"] = cam.image_path
        entries.append(entry)
    path.write_text(json.dumps({"format": FORMAT, "version": 1, "cameras": entries}, indent=1))


@checked_reader
def read_cameras_json(path: str | Path) -> list[Camera]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} cannot be read as JSON ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path.name} is not a {FORMAT} file (no \"format\": \"{FORMAT}\").")
    entries = data.get("cameras")
    if not isinstance(entries, list):
        raise InputError(f"{path.name}: \"cameras\" must be a list of cameras, got {type(entries).__name__}.")
    return [_camera(entry, i, path) for i, entry in enumerate(entries)]


def _camera(entry: dict, index: int, path: Path) -> Camera:
    try:
        K = np.array(entry["K"], dtype=np.float64)
        w2c = np.array(entry["world_to_cam"], dtype=np.float64)
        width, height = int(entry["width"]), int(entry["height"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{path.name}: camera {index} lacks or has a malformed field ({exc}).") from None
    image = entry.get("image_path")
    if image and not Path(image).is_absolute():
        image = str(path.parent / image)
    return Camera(K=K, world_to_cam=w2c, width=width, height=height, name=str(entry.get("name", f"Camera {index}")),
                  image_path=image)
