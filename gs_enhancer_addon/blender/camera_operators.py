"""Camera operators: capture import (File > Import), the path preview, and the reorderable camera list."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..core.capture import read_colmap_model, read_transforms_json
from ..core.errors import GsEnhancerError
from .camera_io import cameras_to_collection
from .path_preview import update_path_preview
from .scene_io import is_splat_object


def _splat_matrix(context):
    """World matrix of the splat the capture belongs to: the panel's splat, else the active splat object."""
    settings = getattr(context.scene, "gs_enhancer", None)
    obj = settings.source if settings is not None and settings.source is not None else context.active_object
    return obj.matrix_world.copy() if obj is not None and is_splat_object(obj) else None


class _CaptureImport:
    """Options shared by both capture importers."""

    align_to_splat: BoolProperty(
        name="Align to Splat",
        description="Place the cameras in the splat object's space (the panel's splat, else the active splat), "
        "so they line up even if the splat was rotated or moved on import",
        default=True,
    )
    set_render: BoolProperty(
        name="Set Render Size",
        description="Set the scene's render resolution and pixel aspect from the capture's first camera",
        default=True,
    )
    background_images: BoolProperty(
        name="Photos as Backgrounds",
        description="Show each camera's photo as its background image (loads every photo)",
        default=False,
    )

    def _finish(self, context, cameras, name: str):
        matrix = _splat_matrix(context) if self.align_to_splat else None
        collection, warnings = cameras_to_collection(context, cameras, name, matrix, self.set_render, self.background_images)
        for warning in warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"Imported {len(cameras)} cameras into collection '{collection.name}'.")
        return {"FINISHED"}


class GSE_OT_import_colmap_cameras(bpy.types.Operator, ImportHelper, _CaptureImport):
    """Import the cameras of a COLMAP sparse model (cameras + images, .bin or .txt) as camera objects"""

    bl_idname = "gse.import_colmap_cameras"
    bl_label = "Import COLMAP Cameras"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.bin;*.txt", options={"HIDDEN"})

    def execute(self, context):
        model_dir = self.filepath if os.path.isdir(self.filepath) else os.path.dirname(self.filepath)
        try:
            cameras = read_colmap_model(model_dir)
            return self._finish(context, cameras, "COLMAP Cameras")
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}


class GSE_OT_import_transforms_cameras(bpy.types.Operator, ImportHelper, _CaptureImport):
    """Import the cameras of a nerfstudio / instant-ngp transforms.json as camera objects"""

    bl_idname = "gse.import_transforms_cameras"
    bl_label = "Import transforms.json Cameras"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})
    world: EnumProperty(
        name="World",
        description="Which world the splat was trained in",
        items=(
            ("file", "File", "The file's own world (INRIA 3DGS, gsplat, NeRF-synthetic)"),
            ("original", "COLMAP", "Undo nerfstudio's applied_transform: the COLMAP world the file came from"),
            ("nerfstudio", "Nerfstudio", "nerfstudio's training world (needs dataparser_transforms.json)"),
            ("ngp", "Instant-NGP", "instant-ngp's world (scale, offset and axis cycle)"),
        ),
        default="file",
    )
    dataparser_transforms: StringProperty(
        name="Dataparser Transforms",
        description="nerfstudio's dataparser_transforms.json of the trained model (Nerfstudio world only)",
        subtype="FILE_PATH",
        default="",
    )

    def execute(self, context):
        try:
            dp = bpy.path.abspath(self.dataparser_transforms) if self.dataparser_transforms else None
            cameras = read_transforms_json(self.filepath, self.world, dp)
            return self._finish(context, cameras, f"{os.path.splitext(os.path.basename(self.filepath))[0]} Cameras")
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}


class GSE_OT_update_path_preview(bpy.types.Operator):
    """Show the sampled camera path (every novel view and where it looks) as a wire object in the viewport"""

    bl_idname = "gse.update_path_preview"
    bl_label = "Preview Camera Path"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return getattr(context.scene, "gs_enhancer", None) is not None

    def execute(self, context):
        try:
            obj, trajectory = update_path_preview(context)
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"'{obj.name}': {len(trajectory.cameras)} views in {len(trajectory.windows)} windows.")
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------
# The explicit camera list (path mode LIST)


class GSE_UL_path_cameras(bpy.types.UIList):
    """Reference cameras in path order."""

    bl_idname = "GSE_UL_path_cameras"

    def draw_item(self, _context, layout, _data, item, _icon, _active_data, _active_prop, index=0):
        row = layout.row(align=True)
        row.label(text=f"{index + 1}.")
        row.prop(item, "camera", text="", emboss=False, icon="CAMERA_DATA")


class GSE_OT_path_camera_add(bpy.types.Operator):
    """Append the selected cameras (not yet listed) to the camera list, in selection name order"""

    bl_idname = "gse.path_camera_add"
    bl_label = "Add Selected Cameras"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.gs_enhancer
        listed = {item.camera for item in settings.path_cameras}
        picked = [o for o in context.selected_objects if o.type == "CAMERA" and o not in listed]
        if not picked:
            self.report({"WARNING"}, "Select one or more cameras that are not in the list yet.")
            return {"CANCELLED"}
        for obj in sorted(picked, key=lambda o: o.name):
            settings.path_cameras.add().camera = obj
        settings.path_cameras_index = len(settings.path_cameras) - 1
        return {"FINISHED"}


class GSE_OT_path_camera_remove(bpy.types.Operator):
    """Remove the active camera from the camera list"""

    bl_idname = "gse.path_camera_remove"
    bl_label = "Remove Camera"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.gs_enhancer
        i = settings.path_cameras_index
        if not 0 <= i < len(settings.path_cameras):
            return {"CANCELLED"}
        settings.path_cameras.remove(i)
        settings.path_cameras_index = max(0, min(i, len(settings.path_cameras) - 1))
        return {"FINISHED"}


class GSE_OT_path_camera_move(bpy.types.Operator):
    """Move the active camera up or down the camera list"""

    bl_idname = "gse.path_camera_move"
    bl_label = "Move Camera"
    bl_options = {"REGISTER", "UNDO"}

    direction: EnumProperty(items=(("UP", "Up", ""), ("DOWN", "Down", "")), default="UP")

    def execute(self, context):
        settings = context.scene.gs_enhancer
        i = settings.path_cameras_index
        j = i - 1 if self.direction == "UP" else i + 1
        if not (0 <= i < len(settings.path_cameras) and 0 <= j < len(settings.path_cameras)):
            return {"CANCELLED"}
        settings.path_cameras.move(i, j)
        settings.path_cameras_index = j
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------
# Panel part and menus


def draw_camera_path(layout, settings) -> None:
    """The camera-path part of the sidebar (called by panel.draw_main)."""
    layout.prop(settings, "path_mode")
    if settings.path_mode == "COLLECTION":
        layout.prop(settings, "camera_collection")
        layout.prop(settings, "closed_loop")
    elif settings.path_mode == "LIST":
        row = layout.row()
        row.template_list(GSE_UL_path_cameras.bl_idname, "", settings, "path_cameras", settings, "path_cameras_index", rows=4)
        col = row.column(align=True)
        col.operator(GSE_OT_path_camera_add.bl_idname, icon="ADD", text="")
        col.operator(GSE_OT_path_camera_remove.bl_idname, icon="REMOVE", text="")
        col.separator()
        col.operator(GSE_OT_path_camera_move.bl_idname, icon="TRIA_UP", text="").direction = "UP"
        col.operator(GSE_OT_path_camera_move.bl_idname, icon="TRIA_DOWN", text="").direction = "DOWN"
        layout.prop(settings, "closed_loop")
    else:
        layout.prop(settings, "animated_camera")
        row = layout.row(align=True)
        row.prop(settings, "frame_start")
        row.prop(settings, "frame_end")
        row.prop(settings, "frame_stride")
    layout.prop(settings, "views_per_segment")
    layout.operator(GSE_OT_update_path_preview.bl_idname, icon="CURVE_PATH")


def _menu_import(self, _context):
    self.layout.operator(GSE_OT_import_colmap_cameras.bl_idname, text="COLMAP Cameras (Splat Enhancer)")
    self.layout.operator(GSE_OT_import_transforms_cameras.bl_idname, text="transforms.json Cameras (Splat Enhancer)")


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)


CLASSES = (
    GSE_OT_import_colmap_cameras,
    GSE_OT_import_transforms_cameras,
    GSE_OT_update_path_preview,
    GSE_UL_path_cameras,
    GSE_OT_path_camera_add,
    GSE_OT_path_camera_remove,
    GSE_OT_path_camera_move,
)
