"""Camera import from capture data: nerfstudio / instant-ngp `transforms.json` and COLMAP models.

Both readers return `Camera` lists (OpenCV pose, pixel-centre convention of core/cameras.py),
sorted by image name, with `image_path` set where the photo exists on disk. numpy + stdlib only.
"""

from .colmap import read_colmap_model
from .transforms_json import read_transforms_json

__all__ = ["read_colmap_model", "read_transforms_json"]
