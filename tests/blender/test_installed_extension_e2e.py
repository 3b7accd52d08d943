"""The installed extension zip runs Enhance Splat end to end (fresh Blender process, tiny models)."""

from __future__ import annotations

import pytest

from tests.blender.test_extension_install import MODULE, extension_zip, run_blender_session  # noqa: F401

pytestmark = pytest.mark.needs_torch


def test_installed_extension_enhances_the_sample(extension_zip, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path / "models"))
    out = run_blender_session(tmp_path / "blender-user", f"""
        import importlib
        import numpy as np
        assert bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True) == {{"FINISHED"}}
        addon = importlib.import_module({MODULE!r})
        out["package_file"] = addon.__file__
        sample = importlib.import_module({MODULE!r} + ".blender.sample")
        core_sample = importlib.import_module({MODULE!r} + ".core.sample")
        config = core_sample.SampleConfig(sphere_gaussians=150, ground_gaussians=100, reference_cameras=2,
                                          width=32, height=24)
        splat, _cameras = sample.add_sample(bpy.context, config)
        settings = bpy.context.scene.gs_enhancer
        settings.preset, settings.views_per_segment, settings.steps, settings.refine_iterations = "FAST", 1, 2, 2
        prefs = bpy.context.preferences.addons[{MODULE!r}].preferences
        prefs.model_set = "TINY"
        def snapshot(obj):
            values = np.zeros(len(obj.data.attributes["opacity"].data), dtype=np.float32)
            obj.data.attributes["opacity"].data.foreach_get("value", values)
            return values.tobytes()
        before = snapshot(splat)
        out["result"] = sorted(bpy.ops.gse.enhance_splat())
        enhanced = bpy.data.objects.get("Sample Splat Enhanced")
        out["enhanced_type"] = enhanced.type if enhanced else None
        out["enhanced_points"] = len(enhanced.data.attributes["opacity"].data) if enhanced else 0
        out["source_unchanged"] = snapshot(splat) == before
        runner = importlib.import_module({MODULE!r} + ".blender.runner")
        out["fraction"] = runner.RUNNER.state.fraction
        addon_utils.disable({MODULE!r}, default_set=True)
    """)
    assert "/extensions/user_default/splat_enhancer/" in out["package_file"], out["package_file"]
    assert out["result"] == ["FINISHED"]
    assert out["enhanced_type"] in ("POINTCLOUD", "MESH") and out["enhanced_points"] == 250
    assert out["source_unchanged"] and out["fraction"] == 1.0
