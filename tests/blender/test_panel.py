"""The sidebar panel and the preferences: what they show for each job state (real RNA checked)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.blender.layout_recorder import LayoutRecorder

bpy = pytest.importorskip("bpy")

from gs_enhancer_addon.blender.runner import RunnerState  # noqa: E402


def test_status_line_for_each_state():
    from gs_enhancer_addon.blender.panel import status_line

    assert status_line(RunnerState()) is None
    assert status_line(RunnerState(running=True, fraction=0.456, message="3/7 Render")) == ("46%  3/7 Render", "TIME")
    assert status_line(RunnerState(error="No CUDA GPU found.", message="Failed")) == ("Failed: No CUDA GPU found.",
                                                                                      "ERROR")
    assert status_line(RunnerState(error="Cancelled by the user.", message="Cancelled")) == ("Cancelled by the user.",
                                                                                             "CANCEL")
    assert status_line(RunnerState(message="Created 'Splat Enhanced'")) == ("Created 'Splat Enhanced'", "CHECKMARK")


def test_panel_draws_real_properties_and_swaps_enhance_for_cancel(addon_registered):
    from gs_enhancer_addon.blender.panel import draw_main

    settings = bpy.context.scene.gs_enhancer
    idle, running = LayoutRecorder(), LayoutRecorder()
    draw_main(idle, settings, RunnerState(message="Done"))
    draw_main(running, settings, RunnerState(running=True, fraction=0.5, message="4/7 Enhance"))
    assert idle.all_valid() and running.all_valid(), (idle.log, running.log)
    idle_ops = {entry[1] for entry in idle.log if entry[0] == "op"}
    running_ops = {entry[1] for entry in running.log if entry[0] == "op"}
    assert "gse.enhance_splat" in idle_ops and "gse.cancel" not in idle_ops
    assert "gse.cancel" in running_ops and "gse.enhance_splat" not in running_ops
    assert ("progress", "50%  4/7 Enhance", True) in running.log or ("label", "50%  4/7 Enhance", True) in running.log
    for name in ("source", "style_prompt", "preset", "device", "steps", "refine_iterations", "frames_dir"):
        assert ("prop", name, True) in idle.log


def test_preferences_draw_real_properties(addon_registered):
    from gs_enhancer_addon.blender.preferences import GSE_AP_preferences, draw_preferences

    prefs = SimpleNamespace(bl_rna=GSE_AP_preferences.bl_rna, model_set="PRETRAINED", cache_dir="",
                            enhancer_backend="svd", stylizer_backend="clipstyler",
                            models_found="the CLIP model: in the cache /x\nthe VGG-19: not found (missing model.safetensors)")
    layout = LayoutRecorder()
    draw_preferences(layout, prefs)
    assert layout.all_valid(), layout.log
    ops = {entry[1] for entry in layout.log if entry[0] == "op"}
    assert ops == {"gse.download_models", "gse.check_models", "gse.release_models"}
    drawn = [entry[1] for entry in layout.log if entry[0] == "prop"]
    assert drawn.index("enhancer_backend") < drawn.index("enhancer_source") < drawn.index("stylizer_backend")
    assert drawn.index("stylizer_backend") < drawn.index("clip_model")


def test_a_registered_backend_appears_in_the_preferences(addon_registered):
    """A second enhancer registered in core.backends is offered in the preferences' menu, and its
    settings hook decides what is drawn under it (here: nothing of the SVD backend's)."""
    from gs_enhancer_addon.blender.preferences import GSE_AP_preferences, _backend_items, draw_preferences
    from gs_enhancer_addon.core.backends import ENHANCERS
    from gs_enhancer_addon.core.stages import BackendInfo

    ENHANCERS.register(BackendInfo("toy", "Toy Fixer", "A single-step fixer (test)", lambda config: None,
                                   settings=("hub_token",)))
    try:
        assert ("toy", "Toy Fixer", "A single-step fixer (test)") in _backend_items("ENHANCERS")(None, None)
        prefs = SimpleNamespace(bl_rna=GSE_AP_preferences.bl_rna, model_set="PRETRAINED", cache_dir="",
                                enhancer_backend="toy", stylizer_backend="clipstyler", models_found="")
        layout = LayoutRecorder()
        draw_preferences(layout, prefs)
        drawn = [entry[1] for entry in layout.log if entry[0] == "prop"]
        assert "enhancer_source" not in drawn and drawn.index("enhancer_backend") + 1 == drawn.index("hub_token")
    finally:
        ENHANCERS.unregister("toy")


def test_enhance_is_unavailable_without_a_splat(addon_registered):
    bpy.context.scene.gs_enhancer.source = None
    assert not bpy.ops.gse.enhance_splat.poll()
    assert not bpy.ops.gse.cancel.poll(), "nothing to cancel"
