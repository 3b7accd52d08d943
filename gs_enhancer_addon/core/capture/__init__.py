"""Camera import from capture data: nerfstudio / instant-ngp `transforms.json` and COLMAP models.

Both readers return `Camera` lists (OpenCV pose, pixel-centre convention of core/cameras.py),
sorted by image name, with `image_path` set where the photo exists on disk. numpy + stdlib only.
"""

from pathlib import Path

from ..cameras import Camera
from ..errors import InputError
from .camera_json import read_cameras_json, write_cameras_json
from .colmap import read_colmap_model, read_colmap_points
from .transforms_json import read_transforms_json

__all__ = ["load_cameras", "read_cameras_json", "write_cameras_json", "read_colmap_model", "read_colmap_points", "read_transforms_json"]


def load_cameras(path: str | Path) -> list[Camera]:
    """Cameras from our cams.json, a transforms.json, or a COLMAP sparse model (folder or a file in it)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Camera file or folder not found: {path}")
    if path.is_dir() or path.name in ("cameras.bin", "cameras.txt", "images.bin", "images.txt"):
        return read_colmap_model(path if path.is_dir() else path.parent)
    if path.suffix.lower() != ".json":
        raise InputError(f"{path.name}: expected a .json camera file or a COLMAP sparse folder.")
    import json

    try:
        is_ours = json.loads(path.read_text()).get("format") == "gs-enhancer-cameras"
    except (OSError, ValueError, AttributeError):
        is_ours = False
    return read_cameras_json(path) if is_ours else read_transforms_json(path)
