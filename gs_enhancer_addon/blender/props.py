"""Scene settings shown in the sidebar, and their conversion to the job's config.

Stored on the scene as `scene.gs_enhancer` (one PropertyGroup), so settings are saved in the
.blend and undo with it.
"""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..core.job_config import PRESET_REFINE_ITERATIONS, PRESET_STEPS, PRESET_VIEWS_PER_SEGMENT
from .display import display_modifier, set_viewport_density
from .scene_io import is_splat_object


def _poll_splat(_self, obj) -> bool:
    return is_splat_object(obj)


def _apply_display_density(settings, _context) -> None:
    """The density slider drives the display of the source and of its Enhance result alike."""
    for obj in (settings.source, settings.result):
        if display_modifier(obj) is not None:
            set_viewport_density(obj, settings.display_density)


def _poll_camera(_self, obj) -> bool:
    return obj is not None and obj.type == "CAMERA"


def preset_description(preset: str) -> str:
    """The Quality menu's tooltip for `preset` ("fast", ...), written from the core's preset numbers."""
    views = PRESET_VIEWS_PER_SEGMENT[preset]
    return (f"{PRESET_STEPS[preset]} diffusion steps, {views} views per segment (one {views + 2}-frame window), "
            f"{PRESET_REFINE_ITERATIONS[preset]} fine-tuning iterations")


PRESET_ITEMS = tuple((name.upper(), name.title(), preset_description(name)) for name in PRESET_STEPS)


class GSE_PG_path_camera(bpy.types.PropertyGroup):
    """One entry of the explicit, reorderable reference-camera list (path mode LIST)."""

    camera: PointerProperty(name="Camera", description="Reference camera", type=bpy.types.Object, poll=_poll_camera)


class GSE_PG_settings(bpy.types.PropertyGroup):
    source: PointerProperty(
        name="Splat",
        description="Gaussian splat object to enhance (a mesh or point cloud with 3DGS attributes); never modified",
        type=bpy.types.Object,
        poll=_poll_splat,
    )
    path_mode: EnumProperty(
        name="Camera Path",
        description="Where the camera trajectory comes from",
        items=(
            ("COLLECTION", "Reference Cameras", "Cameras of a collection, in name order, are the reference views"),
            ("LIST", "Camera List", "Cameras of an explicit list, in the list's order, are the reference views"),
            ("ANIMATED", "Animated Camera", "One animated camera sampled over a frame range"),
        ),
        default="COLLECTION",
    )
    camera_collection: PointerProperty(
        name="Cameras",
        description="Collection whose cameras (sorted by name, numbers compared as numbers) are the reference views",
        type=bpy.types.Collection,
    )
    path_cameras: CollectionProperty(name="Camera List", type=GSE_PG_path_camera)
    path_cameras_index: IntProperty(name="Active Camera", default=0, min=0)
    animated_camera: PointerProperty(
        name="Camera",
        description="Animated camera whose motion is the trajectory",
        type=bpy.types.Object,
        poll=_poll_camera,
    )
    frame_start: IntProperty(name="Start", description="First frame of the animated path", default=1)
    frame_end: IntProperty(name="End", description="Last frame of the animated path", default=250)
    frame_stride: IntProperty(name="Stride", description="Sample every n-th frame", default=5, min=1)
    views_per_segment: IntProperty(
        name="Views per Segment",
        description="Novel views between two reference cameras (one diffusion window is this plus the two references)",
        default=PRESET_VIEWS_PER_SEGMENT["balanced"],  # the default preset's
        min=1,
        max=62,
    )
    closed_loop: BoolProperty(
        name="Closed Loop", description="Also sample the path from the last reference back to the first", default=False
    )
    style_prompt: StringProperty(
        name="Style",
        description='Text describing the look to apply, e.g. "a watercolor painting"; empty: enhance only',
        default="",
    )
    preset: EnumProperty(
        name="Quality",
        description="Diffusion steps, views and fine-tuning length",
        items=PRESET_ITEMS,
        default="BALANCED",
        update=lambda self, _context: self.apply_preset_views(),
    )
    device: EnumProperty(
        name="Device",
        description="Where the work runs",
        items=(
            ("AUTO", "Auto", "The CUDA GPU when there is one, else the CPU"),
            ("CUDA", "CUDA GPU", "The first CUDA GPU"),
            ("CPU", "CPU", "The CPU: small scenes only (slow)"),
        ),
        default="AUTO",
    )
    steps: IntProperty(
        name="Diffusion Steps", description="Denoising steps per window (0: the quality preset's)", default=0, min=0,
        max=200,
    )
    refine_iterations: IntProperty(
        name="Fine-Tuning Iterations", description="Gaussian fine-tuning steps (0: the quality preset's)", default=0,
        min=0, max=100_000,
    )
    frames_dir: StringProperty(
        name="Save Frames",
        description="Optional folder for the rendered, generated and final views as PNG files (empty: not saved)",
        subtype="DIR_PATH",
        default="",
    )

    result: PointerProperty(
        name="Enhanced",
        description="The Enhance result compared with the source (set when Enhance Splat finishes)",
        type=bpy.types.Object,
        poll=_poll_splat,
    )
    display_density: FloatProperty(
        name="Viewport Density",
        description="Fraction of the Gaussians the viewport shows (faster on big splats); renders show them all",
        default=1.0, min=0.0, max=1.0, subtype="FACTOR",
        update=_apply_display_density,
    )
    result_as_mesh: BoolProperty(
        name="Result as Mesh",
        description="Create the Enhance result as a mesh with the INRIA attributes (f_dc_*, f_rest_*, opacity, "
                    "scale_*, rot_*), the form other 3DGS add-ons such as KIRI 3DGS Render read",
        default=False,
    )

    def apply_preset_views(self) -> None:
        """Presets set the views per segment; the user may still change it afterwards."""
        self.views_per_segment = PRESET_VIEWS_PER_SEGMENT[self.preset.lower()]


CLASSES = (GSE_PG_path_camera, GSE_PG_settings)


def register_scene_properties() -> None:
    bpy.types.Scene.gs_enhancer = PointerProperty(type=GSE_PG_settings)
    bpy.app.handlers.depsgraph_update_post.append(forget_deleted_result)


@bpy.app.handlers.persistent
def forget_deleted_result(scene, _depsgraph=None) -> None:
    """A deleted Enhance result is forgotten: the `result` pointer would otherwise keep the object
    (and its point cloud) alive, invisible, in the saved file."""
    settings = getattr(scene, "gs_enhancer", None)
    if settings is not None and settings.result is not None and not settings.result.users_scene:
        settings.result = None


def job_config(settings, prefs):
    """Sidebar settings + preferences -> core.job.JobConfig (the one conversion, Convention 2)."""
    from ..core.job_config import preset_config
    from .camera_io import trajectory_config
    from .preferences import backend_choices, models_config

    return preset_config(settings.preset.lower(), steps=settings.steps or None, style=settings.style_prompt,
                         refine_iterations=settings.refine_iterations or None, device=settings.device.lower(),
                         models=models_config(prefs), trajectory=trajectory_config(settings), **backend_choices(prefs))


def unregister_scene_properties() -> None:
    if forget_deleted_result in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.remove(forget_deleted_result)
    del bpy.types.Scene.gs_enhancer
