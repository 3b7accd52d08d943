"""Blender work for the command line: save a .blend holding the result as a point-cloud object."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import bpy

from ..core.cameras import Camera
from ..core.gaussians import GaussianScene
from .camera_io import cameras_to_collection
from .scene_io import object_from_scene


def save_result_blend(path: Path, result: GaussianScene, name: str, source: Optional[GaussianScene] = None,
                      cameras: Sequence[Camera] = ()) -> Path:
    """A new .blend with `<name> Enhanced` (and the source splat and cameras, when given)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    context.preferences.filepaths.save_version = 0  # no ".blend1" backup beside the output
    if source is not None:
        object_from_scene(context, source, name=name).hide_set(True)
    if cameras:
        cameras_to_collection(context, list(cameras), "Reference Cameras")
    object_from_scene(context, result, name=f"{name} Enhanced")
    bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False)
    return Path(path)
