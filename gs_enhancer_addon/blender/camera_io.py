"""Blender camera objects <-> core `Camera`, and the camera-path snapshot the job runs on.

Intrinsics follow Blender's own view plane (BKE_camera_params_compute_viewplane), for the image
Blender renders: W x H = resolution x percentage / 100 (integer division, as the renderer does).
With sensor fit resolved (AUTO: horizontal when W * aspect_x >= H * aspect_y), sensor size s
(width for AUTO/HORIZONTAL, height for VERTICAL), pixel aspect ratio ycor = aspect_y / aspect_x
and the fitted extent v = W (horizontal) or H * ycor (vertical):
    fx = lens / s * v,   fy = fx / ycor,
    cx = W / 2 - shift_x * v,   cy = H / 2 + shift_y * v / ycor.
The pose is the object's world matrix with its scale removed (rotation from the normalized
matrix), converted from Blender's camera axes (x right, y up, looking down -z) to OpenCV
(x right, y down, z forward). The focal length's unit (millimetres or field of view) is only how
Blender shows `lens`, which stays the source of truth.
"""

from __future__ import annotations

import os
import re
from typing import Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..core.cameras import GL_TO_CV, Camera
from ..core.trajectory import Trajectory, TrajectoryConfig, trajectory_from_references, trajectory_from_samples
from ..core.errors import InputError

# Custom property (on the camera object or its data) holding the path of the view's real photo.
IMAGE_PATH_PROP = "gse_image_path"


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    """The rendered image size: resolution scaled by the percentage, as Blender's renderer computes it."""
    r = scene.render
    return (r.resolution_x * r.resolution_percentage) // 100, (r.resolution_y * r.resolution_percentage) // 100


def blender_intrinsics(
    lens: float,
    sensor_width: float,
    sensor_height: float,
    sensor_fit: str,
    shift_x: float,
    shift_y: float,
    width: int,
    height: int,
    aspect_x: float = 1.0,
    aspect_y: float = 1.0,
) -> np.ndarray:  # [3, 3]
    """K in pixels (pixel-centre convention of core/cameras.py) from Blender camera settings."""
    if sensor_fit == "AUTO":
        fit = "HORIZONTAL" if width * aspect_x >= height * aspect_y else "VERTICAL"
        sensor = sensor_width
    else:
        fit = sensor_fit
        sensor = sensor_width if fit == "HORIZONTAL" else sensor_height
    ycor = aspect_y / aspect_x
    extent = width if fit == "HORIZONTAL" else height * ycor
    fx = lens / sensor * extent
    fy = fx / ycor
    cx = width / 2.0 - shift_x * extent
    cy = height / 2.0 + shift_y * extent / ycor
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def camera_from_blender(obj: bpy.types.Object, scene: bpy.types.Scene) -> Camera:
    """The core Camera of a Blender perspective camera object, for the scene's render settings."""
    if obj is None or obj.type != "CAMERA":
        raise InputError(f"'{getattr(obj, 'name', obj)}' is not a camera object.")
    data = obj.data
    if data.type != "PERSP":
        kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(data.type, data.type.lower())
        raise InputError(
            f"Camera '{obj.name}' is {kind}; only perspective cameras are supported. "
            "Set its Lens Type to Perspective."
        )
    width, height = render_size(scene)
    r = scene.render
    K = blender_intrinsics(
        data.lens, data.sensor_width, data.sensor_height, data.sensor_fit,
        data.shift_x, data.shift_y, width, height, r.pixel_aspect_x, r.pixel_aspect_y,
    )  # fmt: skip
    meta = {"blender_object": obj.name, "frame": scene.frame_current}
    return Camera(K, world_to_cam_from_matrix(obj.matrix_world), width, height, obj.name, reference_image_path(obj), meta)


def world_to_cam_from_matrix(matrix_world: Matrix) -> np.ndarray:  # [4, 4] OpenCV
    """Scale-free world_to_cam of an object matrix (Blender camera axes)."""
    loc, rot, _scale = matrix_world.decompose()
    c2w = np.array(Matrix.LocRotScale(loc, rot, None), dtype=np.float64)
    return np.linalg.inv(c2w @ GL_TO_CV)


def matrix_from_world_to_cam(world_to_cam: np.ndarray) -> Matrix:
    """Blender object matrix (camera axes, unit scale) of an OpenCV world_to_cam."""
    c2w = np.linalg.inv(np.asarray(world_to_cam, dtype=np.float64)) @ GL_TO_CV
    return Matrix([list(map(float, row)) for row in c2w])


def reference_image_path(obj: bpy.types.Object) -> Optional[str]:
    """The real photo of this camera's view: the `gse_image_path` custom property (object, then
    camera data), else the first camera background image that comes from a file. Absolute path,
    or None."""
    for holder in (obj, obj.data):
        value = holder.get(IMAGE_PATH_PROP)
        if isinstance(value, str) and value:
            return os.path.normpath(bpy.path.abspath(value))
    for bg in obj.data.background_images:
        image = bg.image
        if bg.source == "IMAGE" and image is not None and image.filepath and image.source == "FILE":
            return os.path.normpath(bpy.path.abspath(image.filepath, library=image.library))
    return None


def camera_to_blender(
    camera: Camera,
    scene: bpy.types.Scene,
    collection: Optional[bpy.types.Collection] = None,
    set_render: bool = False,
) -> bpy.types.Object:
    """A new Blender camera object reproducing `camera` (horizontal sensor fit, 36 mm sensor).

    Blender keeps the image size and pixel aspect ratio on the scene: with `set_render` the
    scene's resolution (100 %) and pixel aspect are set from this camera; otherwise they are
    assumed to match already. The photo path goes into the `gse_image_path` custom property.
    """
    width, height = camera.width, camera.height
    if set_render:
        _set_render(scene, camera)
    r = scene.render
    ycor = r.pixel_aspect_y / r.pixel_aspect_x
    fx, cx, cy = camera.K[0, 0], camera.K[0, 2], camera.K[1, 2]
    data = bpy.data.cameras.new(camera.name or "Camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = 36.0
    data.lens = float(fx * data.sensor_width / width)
    data.shift_x = float((width / 2.0 - cx) / width)
    data.shift_y = float((cy - height / 2.0) * ycor / width)
    obj = bpy.data.objects.new(camera.name or "Camera", data)
    obj.matrix_world = matrix_from_world_to_cam(camera.world_to_cam)
    if camera.image_path:
        obj[IMAGE_PATH_PROP] = camera.image_path
    (collection or scene.collection).objects.link(obj)
    return obj


def _set_render(scene: bpy.types.Scene, camera: Camera) -> None:
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = camera.width, camera.height, 100
    ratio = camera.K[1, 1] / camera.K[0, 0]  # fy / fx = aspect_x / aspect_y
    r.pixel_aspect_x, r.pixel_aspect_y = (ratio, 1.0) if ratio >= 1.0 else (1.0, 1.0 / ratio)


def cameras_from_animation(obj: bpy.types.Object, scene: bpy.types.Scene, start: int, end: int, stride: int) -> list[Camera]:
    """One Camera per sampled frame (start..end inclusive, every `stride`); the current frame is restored."""
    if end < start:
        raise InputError(f"The frame range is empty: end ({end}) is before start ({start}).")
    original = (scene.frame_current, scene.frame_subframe)
    cameras = []
    try:
        for frame in range(start, end + 1, max(1, stride)):
            scene.frame_set(frame)
            cam = camera_from_blender(obj, scene)
            cam.name = f"{obj.name}@{frame}"
            cameras.append(cam)
    finally:
        scene.frame_set(original[0], subframe=original[1])
    return cameras


# ----------------------------------------------------------------------------------------------
# The camera path the sidebar describes


def ordered_path_cameras(settings) -> list[bpy.types.Object]:
    """Reference camera objects in path order, per `settings.path_mode` (COLLECTION or LIST)."""
    if settings.path_mode == "LIST":
        objs = [item.camera for item in settings.path_cameras if item.camera is not None]
        return [o for o in objs if o.type == "CAMERA"]
    coll = settings.camera_collection
    if coll is None:
        raise InputError("Choose a collection of reference cameras in the Splat Enhancer panel.")
    return sorted((o for o in coll.all_objects if o.type == "CAMERA"), key=lambda o: natural_key(o.name))


def natural_key(name: str) -> list:
    """Sort key where digit runs compare as numbers: Camera.2 before Camera.10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def trajectory_config(settings) -> TrajectoryConfig:
    closed = bool(settings.closed_loop) and settings.path_mode != "ANIMATED"
    return TrajectoryConfig(views_per_segment=int(settings.views_per_segment), closed_loop=closed)


def snapshot_camera_path(context_or_scene, settings=None) -> tuple[list[Camera], Trajectory]:
    """Everything the job needs about the camera path, read on the main thread.

    `context_or_scene`: a bpy context or a scene; `settings`: the sidebar settings
    (default `scene.gs_enhancer`). Returns (reference cameras in path order, trajectory):
    COLLECTION / LIST modes sample `views_per_segment` views between consecutive references;
    ANIMATED samples the camera every `frame_stride` frames from `frame_start` to `frame_end`
    (the references are then every (T+1)-th sample, see core.cameras.trajectory_from_samples).
    Raises InputError with a message for the user when the path cannot be built.
    """
    scene = getattr(context_or_scene, "scene", None) or context_or_scene
    settings = settings if settings is not None else scene.gs_enhancer
    config = trajectory_config(settings)
    if settings.path_mode == "ANIMATED":
        obj = settings.animated_camera
        if obj is None:
            raise InputError("Choose the animated camera in the Splat Enhancer panel.")
        samples = cameras_from_animation(obj, scene, settings.frame_start, settings.frame_end, settings.frame_stride)
        trajectory = trajectory_from_samples(samples, config)
        return [trajectory.cameras[i] for i in trajectory.reference_indices], trajectory
    references = [camera_from_blender(o, scene) for o in ordered_path_cameras(settings)]
    return references, trajectory_from_references(references, config)


# ----------------------------------------------------------------------------------------------
# Capture import: Camera lists -> camera objects in a new collection


def cameras_to_collection(
    context: bpy.types.Context,
    cameras: list[Camera],
    collection_name: str,
    parent_matrix: Optional[Matrix] = None,
    set_render: bool = True,
    background_images: bool = False,
) -> tuple[bpy.types.Collection, list[str]]:
    """Camera objects for `cameras` in a new collection under the scene collection.

    `parent_matrix`: the splat object's world matrix when the capture's world is the splat's
    object space (a splat imported with a rotation or moved keeps lining up); rotation and
    translation are applied to each pose, any scale moves the positions only. `set_render` sets
    the scene's resolution and pixel aspect from the first camera (Blender keeps one image size
    per scene). `background_images`: also show each camera's photo as its background image.
    Returns the collection and warnings for the user (cameras Blender cannot reproduce exactly
    because their image size or fy/fx ratio differs from the first camera's).
    """
    if not cameras:
        raise InputError("The capture holds no cameras.")
    scene = context.scene
    collection = bpy.data.collections.new(collection_name)
    scene.collection.children.link(collection)
    if set_render:
        _set_render(scene, cameras[0])
    for cam in cameras:
        obj = camera_to_blender(cam, scene, collection)
        if parent_matrix is not None:
            loc, rot, scale = (parent_matrix @ obj.matrix_world).decompose()
            obj.matrix_world = Matrix.LocRotScale(loc, rot, None)
        if background_images and cam.image_path:
            _add_background(obj, cam.image_path)
    return collection, scene_limit_warnings(cameras)


def scene_limit_warnings(cameras: list[Camera]) -> list[str]:
    """Blender keeps one image size and pixel aspect per scene: name the cameras that differ."""
    first = cameras[0]
    ratio = first.K[1, 1] / first.K[0, 0]
    sizes = [c.name for c in cameras if (c.width, c.height) != (first.width, first.height)]
    aspects = [c.name for c in cameras if abs(c.K[1, 1] / c.K[0, 0] / ratio - 1.0) > 1e-4]
    warnings = []
    if sizes:
        warnings.append(f"{len(sizes)} cameras (e.g. '{sizes[0]}') have another image size than '{first.name}'; "
                        "Blender uses one render size per scene.")
    if aspects:
        warnings.append(f"{len(aspects)} cameras (e.g. '{aspects[0]}') have another fy/fx ratio than '{first.name}'; "
                        "Blender uses one pixel aspect per scene, so their vertical focal length is approximate.")
    return warnings


def _add_background(obj: bpy.types.Object, path: str) -> None:
    bg = obj.data.background_images.new()
    bg.image = bpy.data.images.load(path, check_existing=True)
    obj.data.show_background_images = True
