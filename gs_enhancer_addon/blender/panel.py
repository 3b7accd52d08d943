"""The 3D View sidebar tab (N-panel): "Splat Enhancer"."""

from __future__ import annotations

import bpy

from .operators import GSE_OT_enhance_splat

CATEGORY = "Splat Enhancer"


class GSE_PT_main(bpy.types.Panel):
    bl_label = "Splat Enhancer"
    bl_idname = "GSE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY

    def draw(self, context):
        draw_main(self.layout, context.scene.gs_enhancer)


def draw_main(layout: bpy.types.UILayout, settings) -> None:
    """Everything the panel shows; a plain function so tests can call it (draw() never runs headless)."""
    layout.prop(settings, "source")
    layout.prop(settings, "path_mode")
    if settings.path_mode == "COLLECTION":
        layout.prop(settings, "camera_collection")
        layout.prop(settings, "closed_loop")
    else:
        layout.prop(settings, "animated_camera")
        row = layout.row(align=True)
        row.prop(settings, "frame_start")
        row.prop(settings, "frame_end")
        row.prop(settings, "frame_stride")
    layout.prop(settings, "views_per_segment")
    layout.prop(settings, "style_prompt")
    layout.operator(GSE_OT_enhance_splat.bl_idname, icon="SHADERFX")


CLASSES = (GSE_PT_main,)
