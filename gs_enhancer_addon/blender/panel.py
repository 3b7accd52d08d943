"""The 3D View sidebar tab (N-panel): "Splat Enhancer"."""

from __future__ import annotations

from typing import Optional

import bpy

from .camera_operators import draw_camera_path
from .operators import GSE_OT_cancel, GSE_OT_enhance_splat, GSE_OT_toggle_before_after, showing_result
from .runner import RUNNER, RunnerState

CATEGORY = "Splat Enhancer"


class GSE_PT_main(bpy.types.Panel):
    bl_label = "Splat Enhancer"
    bl_idname = "GSE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY

    def draw(self, context):
        draw_main(self.layout, context.scene.gs_enhancer, RUNNER.state)


def draw_main(layout: bpy.types.UILayout, settings, state: RunnerState) -> None:
    """Everything the panel shows (draw() never runs headless: tests use status_line)."""
    layout.prop(settings, "source")
    draw_camera_path(layout, settings)  # camera_operators.py owns this part
    layout.prop(settings, "style_prompt")
    row = layout.row(align=True)
    row.prop(settings, "preset", text="")
    row.prop(settings, "device", text="")
    advanced = layout.column(align=True)
    advanced.prop(settings, "steps")
    advanced.prop(settings, "refine_iterations")
    advanced.prop(settings, "frames_dir")
    if state.running:
        text = status_line(state)[0]
        if hasattr(layout, "progress"):  # Blender 4.0+
            layout.progress(factor=state.fraction, type="BAR", text=text)
        else:
            layout.label(text=text, icon="TIME")
        layout.operator(GSE_OT_cancel.bl_idname, icon="CANCEL")
        return
    layout.operator(GSE_OT_enhance_splat.bl_idname, icon="SHADERFX")
    line = status_line(state)
    if line is not None:
        layout.label(text=line[0], icon=line[1])
    draw_display(layout, settings)


def draw_display(layout: bpy.types.UILayout, settings) -> None:
    """Viewport density, and the one-click Before/After toggle once there is a result."""
    layout.prop(settings, "display_density")
    layout.prop(settings, "result_as_mesh")
    if settings.result is not None:
        label = before_after_label(bpy.context)
        layout.operator(GSE_OT_toggle_before_after.bl_idname, text=label, icon="UV_SYNC_SELECT")


def before_after_label(context) -> str:
    """The toggle's text: which of the two the viewport shows now."""
    return "Showing After (click: Before)" if showing_result(context) else "Showing Before (click: After)"


def status_line(state: RunnerState) -> Optional[tuple[str, str]]:
    """(text, icon) for the state of the last or current job; None before the first one."""
    if state.running:
        return f"{state.fraction * 100:.0f}%  {state.message}", "TIME"
    if state.error:
        prefix = "" if state.message == "Cancelled" else "Failed: "
        return prefix + state.error, "CANCEL" if state.message == "Cancelled" else "ERROR"
    if state.message:
        return state.message, "CHECKMARK"
    return None


CLASSES = (GSE_PT_main,)
