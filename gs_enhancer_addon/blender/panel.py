"""The 3D View sidebar tab (N-panel): "Splat Enhancer"."""

from __future__ import annotations

import bpy

from .camera_operators import draw_camera_path
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
    draw_camera_path(layout, settings)  # camera_operators.py owns this part
    layout.prop(settings, "style_prompt")
    layout.operator(GSE_OT_enhance_splat.bl_idname, icon="SHADERFX")


CLASSES = (GSE_PT_main,)
