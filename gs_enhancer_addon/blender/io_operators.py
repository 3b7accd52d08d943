"""File > Import / File > Export entries for Gaussian splats (.ply, .splat, .spz, .ksplat, .sog), and drag and drop."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core.errors import GsEnhancerError
from .scene_io import export_splat_file, import_splat_file, is_splat_object, new_datablocks_removed_on_error

EXTENSIONS = {"PLY": ".ply", "SPLAT": ".splat", "SPZ": ".spz"}
IMPORT_GLOB = "*.ply;*.splat;*.spz;*.ksplat;*.sog;meta.json"  # meta.json: a SOG folder


class GSE_OT_import_splat(bpy.types.Operator, ImportHelper):
    """Import 3D Gaussian Splatting captures (.ply from INRIA/gsplat/Nerfstudio/SuperSplat, .splat, Niantic .spz,
    GaussianSplats3D .ksplat, PlayCanvas .sog or a SOG folder's meta.json)"""

    bl_idname = "gse.import_splat"
    bl_label = "Import Gaussian Splat"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".ply"
    filter_glob: StringProperty(default=IMPORT_GLOB, options={"HIDDEN"})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    y_down_to_z_up: BoolProperty(
        name="Y-Down to Z-Up",
        description="Rotate the object so a capture in camera coordinates (COLMAP/OpenCV: Y down, "
                    "Z forward) stands upright in Blender. Set as the object's rotation, the points are unchanged",
        default=True,
    )
    drop_invalid: BoolProperty(
        name="Drop Invalid Splats",
        description="Leave out splats with NaN or infinite values instead of refusing the file",
        default=False,
    )

    def invoke(self, context, event):
        if self.filepath and hasattr(self, "invoke_popup"):  # dropped onto the viewport (4.1+)
            return self.invoke_popup(context)
        return super().invoke(context, event)

    def paths(self) -> list[str]:
        names = [f.name for f in self.files if f.name]
        return [os.path.join(self.directory, n) for n in names] if names and self.directory else [self.filepath]

    def execute(self, context):
        created = []
        try:
            with new_datablocks_removed_on_error():  # all or nothing: no object, mesh or material stays
                for path in self.paths():
                    obj = import_splat_file(context, path, y_down_to_z_up=self.y_down_to_z_up,
                                            nonfinite="drop" if self.drop_invalid else "error")
                    created.append(obj)
                    if os.path.basename(path) == "meta.json":  # a SOG folder: name the object after the folder
                        obj.name = os.path.basename(os.path.dirname(os.path.abspath(path))) or obj.name
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        count = sum(len(obj.data.attributes["position"].data) for obj in created)
        self.report({"INFO"}, f"Imported {count:,} splats into {len(created)} object(s).")
        return {"FINISHED"}


class GSE_OT_export_splat(bpy.types.Operator, ExportHelper):
    """Export the active Gaussian splat object (.ply in the INRIA 3DGS layout, .splat or .spz)"""

    bl_idname = "gse.export_splat"
    bl_label = "Export Gaussian Splat"
    bl_options = {"REGISTER", "PRESET"}

    filename_ext = ".ply"
    check_extension = True
    filter_glob: StringProperty(default="*.ply;*.splat;*.spz", options={"HIDDEN"})
    file_format: EnumProperty(
        name="Format",
        items=(("PLY", "PLY (3DGS)", "INRIA 3D Gaussian Splatting .ply, lossless, all SH bands"),
               ("SPLAT", "SPLAT", ".splat for web viewers: 32 bytes per splat, colors without SH bands"),
               ("SPZ", "SPZ", "Niantic .spz version 3: about a quarter of the .ply size, lossy (8-bit colors, "
                              "SH and scales, 0.24 mm positions), all SH bands")),
        default="PLY",
    )
    apply_transform: BoolProperty(
        name="Apply Object Transform",
        description="Write world-space splats (location, rotation and uniform scale applied); off writes "
                    "the object's local coordinates, as imported",
        default=False,
    )

    @classmethod
    def poll(cls, context):
        return is_splat_object(context.active_object)

    def check(self, context):
        fixed = with_extension(self.filepath, self.file_format)
        changed = fixed != self.filepath
        self.filepath = fixed
        return changed

    def execute(self, context):
        path = with_extension(self.filepath, self.file_format)
        try:
            count = export_splat_file(context.active_object, path, world=self.apply_transform)
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {count:,} splats to {os.path.basename(path)}.")
        return {"FINISHED"}


def with_extension(path: str, file_format: str) -> str:
    """`path` ending in the format's extension (a known other splat extension is replaced)."""
    if not path:
        return path
    root, ext = os.path.splitext(path)
    wanted = EXTENSIONS[file_format]
    if ext.lower() == wanted:
        return path
    return (root if ext.lower() in EXTENSIONS.values() else path) + wanted


class GSE_FH_splat(bpy.types.FileHandler):
    bl_idname = "GSE_FH_splat"
    bl_label = "Gaussian Splat"
    bl_import_operator = "gse.import_splat"
    bl_file_extensions = ".ply;.splat;.spz;.ksplat;.sog"

    @classmethod
    def poll_drop(cls, context):
        return context.area is not None and context.area.type == "VIEW_3D"


def menu_import(self, context):
    self.layout.operator(GSE_OT_import_splat.bl_idname, text="Gaussian Splat (.ply, .splat, .spz, .ksplat, .sog)")


def menu_export(self, context):
    self.layout.operator(GSE_OT_export_splat.bl_idname, text="Gaussian Splat (.ply, .splat, .spz)")


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_export.append(menu_export)


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)


CLASSES = (GSE_OT_import_splat, GSE_OT_export_splat, GSE_FH_splat)
