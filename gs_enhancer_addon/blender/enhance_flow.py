"""The Enhance Splat flow around the job: snapshot on the main thread, apply the result there.

The worker thread only ever sees an `EnhanceRequest` (plain data: arrays, Camera objects, the
job config). The result is applied back on the main thread as a new object beside the source,
which is never modified; if applying fails half-way, everything it created (the object, its data
and material, the before/after image, the saved frames) is removed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..core.cameras import Camera
from ..core.trajectory import Trajectory
from ..core.errors import InputError
from ..core.gaussians import GaussianScene
from ..core.image_io import save_png
from ..core.model_cache import ModelCache
from ..core.outputs import Output, check_output_folder, write_outputs
from .camera_io import snapshot_camera_path
from .preferences import get_preferences
from .props import job_config
from .runner import MODEL_CACHE
from .scene_io import new_datablocks_removed_on_error, object_from_scene, scene_from_object

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
    cache: Optional[ModelCache]  # the add-on's models, kept for the next job; None: released after this one
    as_mesh: bool = False  # the result as a mesh with the INRIA attributes (KIRI 3DGS Render reads those)

    def run(self, progress=None, cancel=None):
        """The job itself; safe in a background thread (no bpy)."""
        from ..core.job import EnhanceJob

        return EnhanceJob(self.config, self.cache).run(self.scene, self.references, trajectory=self.trajectory,
                                                       progress=progress, cancel=cancel)


def snapshot_request(context: bpy.types.Context) -> EnhanceRequest:
    """Read everything the job needs from Blender (main thread); InputError for user mistakes."""
    settings = context.scene.gs_enhancer
    source = settings.source
    if source is None:
        raise InputError("Pick the splat object to enhance in the Splat Enhancer panel.")
    splat = scene_from_object(source, world=True)
    references, trajectory = snapshot_camera_path(context, settings)
    config = job_config(settings, get_preferences(context))
    frames_dir = bpy.path.abspath(settings.frames_dir) if settings.frames_dir else None
    if frames_dir:
        check_frames_folder(Path(frames_dir))
    return EnhanceRequest(splat, references, trajectory, config, source.name,
                          np.array(source.matrix_world, dtype=np.float64),
                          [c.name for c in source.users_collection], frames_dir,
                          request_cache(bpy.app.background), settings.result_as_mesh)


def request_cache(in_background: bool) -> Optional[ModelCache]:
    """In the UI the models stay loaded for the next job, until Release Models; a background
    (headless) run gets a private cache that the job releases at its end."""
    return None if in_background else MODEL_CACHE


def apply_result(context: bpy.types.Context, request: EnhanceRequest, result) -> bpy.types.Object:
    """Main thread: the result as a new object named after the source, same transform and collections."""
    local = result.scene.transformed(np.linalg.inv(request.matrix_world))
    saved: list[Path] = []
    try:
        with new_datablocks_removed_on_error():
            created = object_from_scene(context, local, name=f"{request.source_name} Enhanced",
                                        as_mesh=request.as_mesh)
            created.matrix_world = request.matrix_world.T.tolist()
            _move_to_collections(context, created, request.collection_names)
            if request.frames_dir:
                saved = save_frames(result, Path(request.frames_dir))
            store_comparison_image(result.comparison_sheet())  # last: nothing after it can fail
    except Exception:
        for path in saved:
            path.unlink(missing_ok=True)
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


def check_frames_folder(folder: Path) -> None:
    """Before the job: InputError / OutputError unless the frames can be saved into `folder`."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"Save Frames: {folder} is a file; choose a folder.")
    check_output_folder(folder)


def save_frames(result, folder: Path) -> list[Path]:
    """before_0000.png, generated_0000.png, after_0000.png ... for every view of the path: all of
    them or none (core/outputs.py). Returns the files written."""
    check_frames_folder(folder)
    outputs = [Output(folder / f"{kind}_{i:04d}.png", "image", lambda tmp, frame=frame: save_png(frame, tmp))
               for kind in ("before", "generated", "after") for i, frame in enumerate(getattr(result, kind))]
    return write_outputs(outputs)


def _move_to_collections(context, obj: bpy.types.Object, names: list[str]) -> None:
    targets = [bpy.data.collections.get(n) for n in names if bpy.data.collections.get(n) is not None]
    if any(n == context.scene.collection.name for n in names) or not targets:
        targets.append(context.scene.collection)
    for collection in list(obj.users_collection):
        collection.objects.unlink(obj)
    for collection in targets:
        collection.objects.link(obj)

