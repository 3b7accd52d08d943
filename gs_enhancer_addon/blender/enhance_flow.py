"""The Enhance Splat flow around the job: snapshot on the main thread, apply the result there.

The worker thread only ever sees an `EnhanceRequest` (plain data: arrays, Camera objects, the
job config). The result is applied back on the main thread as a new object beside the source,
which is never modified; if applying fails half-way, what was created is removed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..core.cameras import Camera, Trajectory
from ..core.errors import InputError
from ..core.gaussians import GaussianScene
from ..core.image_io import save_png
from .camera_io import snapshot_camera_path
from .preferences import get_preferences
from .props import job_config
from .scene_io import object_from_scene, remove_objects, scene_from_object

COMPARISON_IMAGE = "Splat Enhancer Before-After"


@dataclass
class EnhanceRequest:
    scene: GaussianScene  # the source splat in world coordinates (a copy)
    references: list[Camera]
    trajectory: Trajectory
    config: "JobConfig"
    source_name: str
    matrix_world: np.ndarray  # [4, 4] the source's transform at snapshot time
    collection_names: list[str]  # where the source lives; the result goes there too
    frames_dir: Optional[str]
    as_mesh: bool = False  # the result as a mesh with the INRIA attributes (KIRI 3DGS Render reads those)

    def run(self, progress=None, cancel=None):
        """The job itself; safe in a background thread (no bpy)."""
        from ..core.job import EnhanceJob

        return EnhanceJob(self.config).run(self.scene, self.references, trajectory=self.trajectory,
                                           progress=progress, cancel=cancel)


def snapshot_request(context: bpy.types.Context) -> EnhanceRequest:
    """Read everything the job needs from Blender (main thread); InputError for user mistakes."""
    settings = context.scene.gs_enhancer
    source = settings.source
    if source is None:
        raise InputError("Pick the splat object to enhance in the Splat Enhancer panel.")
    splat = scene_from_object(source, world=True)
    references, trajectory = snapshot_camera_path(context, settings)
    config = job_config(settings, get_preferences(context), in_background=bpy.app.background)
    frames_dir = bpy.path.abspath(settings.frames_dir) if settings.frames_dir else None
    return EnhanceRequest(splat, references, trajectory, config, source.name,
                          np.array(source.matrix_world, dtype=np.float64),
                          [c.name for c in source.users_collection], frames_dir, settings.result_as_mesh)


def apply_result(context: bpy.types.Context, request: EnhanceRequest, result) -> bpy.types.Object:
    """Main thread: the result as a new object named after the source, same transform and collections."""
    local = result.scene.transformed(np.linalg.inv(request.matrix_world))
    created: Optional[bpy.types.Object] = None
    try:
        created = object_from_scene(context, local, name=f"{request.source_name} Enhanced", as_mesh=request.as_mesh)
        created.matrix_world = request.matrix_world.T.tolist()
        _move_to_collections(context, created, request.collection_names)
        store_comparison_image(result.comparison_sheet())
        if request.frames_dir:
            save_frames(result, Path(request.frames_dir))
    except Exception:
        if created is not None:
            remove_objects([created])
        raise
    return created


def store_comparison_image(sheet: np.ndarray) -> bpy.types.Image:  # sheet [H, W, 3] in [0, 1]
    """The before / generated / after sheet as an image the user opens in the Image Editor."""
    height, width = sheet.shape[:2]
    image = bpy.data.images.get(COMPARISON_IMAGE)
    if image is None:
        image = bpy.data.images.new(COMPARISON_IMAGE, width=width, height=height, alpha=False)
    elif tuple(image.size) != (width, height):
        image.scale(width, height)
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = sheet
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())  # Blender's rows go bottom-up
    image.update()
    return image


def save_frames(result, folder: Path) -> None:
    """before_0000.png, generated_0000.png, after_0000.png ... for every view of the path."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("before", "generated", "after"):
        for i, frame in enumerate(getattr(result, kind)):
            save_png(frame, folder / f"{kind}_{i:04d}.png")


def _move_to_collections(context, obj: bpy.types.Object, names: list[str]) -> None:
    targets = [bpy.data.collections.get(n) for n in names if bpy.data.collections.get(n) is not None]
    if any(n == context.scene.collection.name for n in names) or not targets:
        targets.append(context.scene.collection)
    for collection in list(obj.users_collection):
        collection.objects.unlink(obj)
    for collection in targets:
        collection.objects.link(obj)

