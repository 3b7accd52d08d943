"""Camera: pinhole intrinsics and pose in the OpenCV convention.

Conventions (shared with gsplat and the INRIA 3DGS code):
- camera axes: x right, y down, z forward (Blender cameras look down -Z with +Y up);
- `world_to_cam` maps homogeneous world points to camera coordinates;
- `K` maps camera coordinates to continuous pixel coordinates, where the centre of pixel
  (col i, row j) is at (i + 0.5, j + 0.5) and the image spans [0, width] x [0, height].
This module imports numpy only (the torch-free bpy 4.2 test leg uses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


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
