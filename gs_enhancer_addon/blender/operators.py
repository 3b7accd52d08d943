"""Operators: Enhance Splat, Cancel, and the model buttons of the preferences.

Enhance Splat snapshots the scene on the main thread, runs the job in the background runner
(synchronously under `bpy.app.background`, where there is no UI to keep alive), and applies the
result on the main thread: one new object, one undo step, the source untouched.
"""

from __future__ import annotations

import bpy

from ..core.errors import GsEnhancerError
from .display import display_modifier, set_viewport_density
from .enhance_flow import apply_result, snapshot_request
from .preferences import get_preferences
from .runner import MODEL_CACHE, PUMP_INTERVAL_S, RUNNER
from .scene_io import is_splat_object


def pump_runner() -> float | None:
    """Main-thread step of a running job: the UI timer calls it; tests call it directly."""
    running = RUNNER.pump()
    _show_progress(running)
    return PUMP_INTERVAL_S if running else None  # None unregisters the timer


def _show_progress(running: bool) -> None:
    """Redraw the sidebars and mirror the progress in the status bar (no-op without a UI)."""
    workspace = getattr(bpy.context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(f"Splat Enhancer {RUNNER.state.fraction * 100:.0f}%: {RUNNER.state.message}"
                                  if running else None)
    window_manager = getattr(bpy.context, "window_manager", None)
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class GSE_OT_enhance_splat(bpy.types.Operator):
    """Render, restore and optionally restyle the splat along the camera path, as a new object"""

    bl_idname = "gse.enhance_splat"
    bl_label = "Enhance Splat"
    # No "UNDO": in the UI this returns before anything changes; _finish pushes the one undo step
    # when the new object is added (the synchronous path runs headless, without an undo stack).
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        settings = getattr(context.scene, "gs_enhancer", None)
        if settings is None or not is_splat_object(settings.source):
            cls.poll_message_set("Pick a Gaussian splat object in the Splat Enhancer panel")
            return False
        if RUNNER.busy:
            cls.poll_message_set("An enhancement is already running")
            return False
        return True

    def execute(self, context):
        try:
            request = snapshot_request(context)
        except GsEnhancerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if bpy.app.background:  # no UI to keep responsive: run here, through the same outcome path
            RUNNER.run_now(request.run, on_done=lambda result: _finish(request, result), on_error=_fail)
            if RUNNER.state.error:
                self.report({"ERROR"}, RUNNER.state.error)
                return {"CANCELLED"}
            self.report({"INFO"}, RUNNER.state.message)
            return {"FINISHED"}
        enhance_in_background(request)
        self.report({"INFO"}, "Enhancing in the background; progress is in the Splat Enhancer panel.")
        return {"FINISHED"}


def start_in_background(work, on_done) -> None:
    """Run `work(progress, cancel)` in the runner's thread; pump_runner() (a UI timer) applies the outcome."""
    RUNNER.start(work, on_done=on_done, on_error=_fail)
    bpy.app.timers.register(pump_runner, first_interval=PUMP_INTERVAL_S)


def enhance_in_background(request) -> None:
    """The Enhance Splat job in the runner's thread; its result is applied by _finish on the main thread."""
    start_in_background(request.run, on_done=lambda result: _finish(request, result))


def _finish(request, result) -> None:
    """Main thread: add the object and push one undo step for it."""
    obj = apply_result(bpy.context, request, result)
    settings = bpy.context.scene.gs_enhancer
    settings.result = obj  # what the Before/After toggle compares with the source
    if display_modifier(obj) is not None:
        set_viewport_density(obj, settings.display_density)
    RUNNER.state.message = " ".join([f"Created '{obj.name}'.", *result.notes])
    if not bpy.app.background:  # no undo stack to push to in background mode
        bpy.ops.ed.undo_push(message="Enhance Splat")


def _fail(message: str) -> None:
    print(f"Splat Enhancer: {message}")


def showing_result(context) -> bool:
    """True when the Enhance result is the one shown in the viewport (the source is hidden)."""
    settings = context.scene.gs_enhancer
    if settings.result is None or settings.source is None:
        return False
    return not settings.result.hide_get() and settings.source.hide_get()


def show_before_after(context, after: bool) -> None:
    """Show the source (before) or the Enhance result (after) in the viewport, and hide the other.

    Only the view layer's hide flags change (hide_set): neither object's data, modifiers nor render
    visibility, so renders and the source stay as they were.
    """
    settings = context.scene.gs_enhancer
    settings.source.hide_set(after)
    settings.result.hide_set(not after)


class GSE_OT_toggle_before_after(bpy.types.Operator):
    """Switch the viewport between the source splat and its Enhance result, both shown as Gaussians"""

    bl_idname = "gse.toggle_before_after"
    bl_label = "Before / After"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        settings = getattr(context.scene, "gs_enhancer", None)
        if settings is None or settings.source is None or settings.result is None:
            cls.poll_message_set("Enhance a splat first: the toggle compares the source with its result")
            return False
        names = context.view_layer.objects.keys()
        if settings.source.name not in names or settings.result.name not in names:
            cls.poll_message_set("The source or the result is not in this view layer")
            return False
        return True

    def execute(self, context):
        after = not showing_result(context)
        show_before_after(context, after)
        shown = context.scene.gs_enhancer.result if after else context.scene.gs_enhancer.source
        self.report({"INFO"}, f"Showing {'after' if after else 'before'}: '{shown.name}'.")
        return {"FINISHED"}


class GSE_OT_cancel(bpy.types.Operator):
    """Stop the running enhancement at its next step; nothing is added to the scene"""

    bl_idname = "gse.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return RUNNER.busy

    def execute(self, context):
        RUNNER.cancel()
        return {"FINISHED"}


class GSE_OT_download_models(bpy.types.Operator):
    """Download the configured models into the cache now (needs Blender's online access)"""

    bl_idname = "gse.download_models"
    bl_label = "Download Models"

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is off: allow it in Preferences > System > Network, "
                                   "or put the models in local folders and point the settings at them.")
            return {"CANCELLED"}
        if RUNNER.busy:
            self.report({"ERROR"}, "A job is running; download the models when it is done.")
            return {"CANCELLED"}
        from .preferences import models_config

        models = models_config(get_preferences(context))
        if models.tiny:
            self.report({"INFO"}, "The tiny test models are built locally; nothing to download.")
            return {"CANCELLED"}
        if bpy.app.background:
            try:
                models.download()
            except GsEnhancerError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            return {"FINISHED"}
        start_in_background(models.download, on_done=lambda _result: None)
        return {"FINISHED"}


class GSE_OT_check_models(bpy.types.Operator):
    """Show where each configured model is: the extension's folder, the standard Hugging Face cache, a local folder, or missing"""

    bl_idname = "gse.check_models"
    bl_label = "Check Models"

    def execute(self, context):
        from .preferences import model_lines, models_config

        prefs = get_preferences(context)
        if prefs is None or prefs.model_set == "TINY":
            self.report({"INFO"}, "The tiny test models are built locally; nothing to check.")
            return {"CANCELLED"}
        if RUNNER.busy:
            self.report({"ERROR"}, "A job is running; check the models when it is done.")
            return {"CANCELLED"}

        def show(lines: list[str]) -> None:
            prefs.models_found = "\n".join(lines)
            RUNNER.state.message = "; ".join(lines)

        # The preferences are read here, on the main thread; the work (finding a CLIP tag's repo
        # imports open_clip and torch) runs in the runner's thread in the UI and touches no bpy.
        models = models_config(prefs)
        work = lambda progress, cancel: model_lines(models)  # noqa: E731
        if bpy.app.background:
            RUNNER.run_now(work, on_done=show, on_error=_fail)
            if RUNNER.state.error:
                self.report({"ERROR"}, RUNNER.state.error)
                return {"CANCELLED"}
            self.report({"INFO"}, RUNNER.state.message)
            return {"FINISHED"}
        start_in_background(work, on_done=show)
        return {"FINISHED"}


class GSE_OT_release_models(bpy.types.Operator):
    """Free the loaded models and return their GPU memory"""

    bl_idname = "gse.release_models"
    bl_label = "Release Models"

    def execute(self, context):
        if RUNNER.busy:
            self.report({"ERROR"}, "A job is using the models; cancel it or wait until it ends.")
            return {"CANCELLED"}
        count = MODEL_CACHE.release()
        self.report({"INFO"}, f"Released {count} loaded model set(s).")
        return {"FINISHED"}


CLASSES = (GSE_OT_enhance_splat, GSE_OT_cancel, GSE_OT_toggle_before_after, GSE_OT_download_models,
           GSE_OT_check_models, GSE_OT_release_models)
