"""Enhance Splat end to end in real Blender (bpy 5.0.1), tiny offline models, a small sample scene."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.needs_torch

from gs_enhancer_addon.core.sample import SampleConfig  # noqa: E402

SMALL = SampleConfig(sphere_gaussians=300, ground_gaussians=200, reference_cameras=3, width=32, height=24)


@pytest.fixture
def sample(addon_registered, tmp_path, monkeypatch):
    """The add-on registered, the small sample in the scene, settings sized for a quick run."""
    from gs_enhancer_addon.blender.runner import RUNNER
    from gs_enhancer_addon.blender.sample import add_sample

    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path / "models"))
    bpy = addon_registered
    splat, cameras = add_sample(bpy.context, SMALL)
    settings = bpy.context.scene.gs_enhancer
    settings.preset = "FAST"
    settings.views_per_segment = 2
    settings.steps = 2
    settings.refine_iterations = 4
    assert not RUNNER.busy
    yield bpy, splat, cameras
    RUNNER.cancel()
    RUNNER.wait()
    RUNNER.pump()


def attribute_bytes(obj) -> dict[str, bytes]:
    """Every attribute of the object's data, as raw bytes (byte-identical comparison)."""
    out = {}
    for attr in obj.data.attributes:
        width = {"FLOAT_VECTOR": 3, "FLOAT_COLOR": 4, "QUATERNION": 4}.get(attr.data_type, 1)
        values = np.zeros(len(attr.data) * width, dtype=np.float32)
        key = "vector" if width == 3 else "color" if attr.data_type == "FLOAT_COLOR" else "value"
        attr.data.foreach_get(key, values)
        out[attr.name] = values.tobytes()
    return out


def new_objects(bpy, before: set[str]) -> list:
    return [o for o in bpy.data.objects if o.name not in before]


def test_operator_runs_synchronously_and_adds_one_new_object(sample):
    from gs_enhancer_addon.blender.enhance_flow import COMPARISON_IMAGE
    from gs_enhancer_addon.blender.runner import RUNNER
    from gs_enhancer_addon.blender.scene_io import REQUIRED_ATTRIBUTES, supports_pointcloud_objects

    bpy, splat, _ = sample
    splat.location = (0.5, -0.25, 0.1)  # a transform the result must share
    bpy.context.view_layer.update()
    source_before, names_before = attribute_bytes(splat), {o.name for o in bpy.data.objects}

    assert bpy.ops.gse.enhance_splat() == {"FINISHED"}

    (result,) = new_objects(bpy, names_before)
    assert result.name == "Sample Splat Enhanced"
    assert result.type == ("POINTCLOUD" if supports_pointcloud_objects() else "MESH")
    assert set(REQUIRED_ATTRIBUTES) <= set(result.data.attributes.keys())
    assert len(result.data.attributes["opacity"].data) == len(splat.data.attributes["opacity"].data)
    assert np.allclose(np.array(result.matrix_world), np.array(splat.matrix_world))
    assert {c.name for c in result.users_collection} == {c.name for c in splat.users_collection}
    assert attribute_bytes(splat) == source_before, "the source splat must stay byte-identical"
    assert RUNNER.state.fraction == 1.0 and RUNNER.state.error == ""
    sheet = bpy.data.images[COMPARISON_IMAGE]
    assert sheet.size[0] > 0 and max(sheet.pixels[:]) > 0.0


def test_threaded_run_is_applied_by_the_pump(sample):
    from gs_enhancer_addon.blender.enhance_flow import snapshot_request
    from gs_enhancer_addon.blender.operators import enhance_in_background, pump_runner
    from gs_enhancer_addon.blender.runner import RUNNER

    bpy, splat, _ = sample
    names_before = {o.name for o in bpy.data.objects}
    enhance_in_background(snapshot_request(bpy.context))
    fractions, deadline = [], time.monotonic() + 300
    while pump_runner() is not None:  # what the UI timer does
        fractions.append(RUNNER.state.fraction)
        assert time.monotonic() < deadline
        assert not new_objects(bpy, names_before), "nothing is added before the job is done"
        time.sleep(0.02)
    assert RUNNER.state.error == "", RUNNER.state.error
    assert [o.name for o in new_objects(bpy, names_before)] == ["Sample Splat Enhanced"]
    assert RUNNER.state.fraction == 1.0
    assert fractions == sorted(fractions) and len(set(fractions)) > 3, "progress moves forward"


def test_cancel_mid_run_leaves_scene_and_disk_as_they_were(sample, tmp_path):
    from gs_enhancer_addon.blender.enhance_flow import snapshot_request
    from gs_enhancer_addon.blender.operators import enhance_in_background, pump_runner
    from gs_enhancer_addon.blender.runner import RUNNER

    bpy, splat, _ = sample
    frames = tmp_path / "frames"
    bpy.context.scene.gs_enhancer.frames_dir = str(frames)
    names_before = {o.name for o in bpy.data.objects}
    meshes_before = len(bpy.data.meshes)
    enhance_in_background(snapshot_request(bpy.context))
    deadline = time.monotonic() + 300
    while "Enhance" not in RUNNER.state.message:  # cancel inside the diffusion stage
        assert pump_runner() is not None and time.monotonic() < deadline, RUNNER.state.error
        time.sleep(0.01)
    bpy.ops.gse.cancel()
    while pump_runner() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert RUNNER.state.message == "Cancelled"
    assert {o.name for o in bpy.data.objects} == names_before and len(bpy.data.meshes) == meshes_before
    assert not frames.exists() or not any(frames.iterdir())


def test_user_errors_become_reports(sample):
    bpy, splat, cameras = sample
    settings = bpy.context.scene.gs_enhancer

    settings.device = "CUDA"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was requested"):
            bpy.ops.gse.enhance_splat()
    settings.device = "AUTO"

    for cam in list(cameras.objects)[1:]:
        cameras.objects.unlink(cam)
    with pytest.raises(RuntimeError, match="at least 2|at least two"):
        bpy.ops.gse.enhance_splat()

    settings.source = None
    assert not bpy.ops.gse.enhance_splat.poll()
