"""Bad input and bad conditions through the add-on's real operators (bpy 5.0.1, tiny offline models).

For each: an ERROR report of one line (bpy.ops raises it as RuntimeError) or a runner error, the
source object byte-identical, and no data-block (object, mesh, point cloud, material, node group,
image) and no file left by the failed run.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from gs_enhancer_addon.core.sample import SampleConfig

pytestmark = pytest.mark.needs_torch

SMALL = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=2, width=32, height=24)
KINDS = ("objects", "meshes", "pointclouds", "materials", "node_groups", "images", "collections")


@pytest.fixture
def sample(addon_registered, tiny_model_cache):
    """The add-on registered, the small sample in the scene, settings sized for a quick run."""
    from gs_enhancer_addon.blender.runner import RUNNER
    from gs_enhancer_addon.blender.sample import add_sample

    bpy = addon_registered
    splat, cameras = add_sample(bpy.context, SMALL)
    settings = bpy.context.scene.gs_enhancer
    settings.preset, settings.views_per_segment, settings.steps, settings.refine_iterations = "FAST", 1, 2, 2
    yield bpy, splat, cameras
    RUNNER.cancel()
    RUNNER.wait()
    RUNNER.pump()


def blocks(bpy) -> dict[str, set[str]]:
    return {kind: set(getattr(bpy.data, kind).keys()) for kind in KINDS if hasattr(bpy.data, kind)}


def attribute_bytes(obj) -> bytes:
    out = b""
    for attr in sorted(obj.data.attributes, key=lambda a: a.name):
        if attr.data_type == "FLOAT":
            values = np.zeros(len(attr.data), dtype=np.float32)
            attr.data.foreach_get("value", values)
            out += values.tobytes()
    return out


def refused(bpy, *expected: str) -> str:
    """Run Enhance Splat; it must end in one ERROR report line containing `expected`."""
    with pytest.raises(RuntimeError) as error:
        bpy.ops.gse.enhance_splat()
    message = str(error.value).strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert "Unexpected error" not in message, message
    for text in expected:
        assert text.lower() in message.lower(), (text, message)
    return message


@pytest.fixture
def untouched(sample):
    """Asserts after the test: the source unchanged and no data-block added."""
    bpy, splat, _ = sample
    before, source = blocks(bpy), attribute_bytes(splat)
    yield
    assert blocks(bpy) == before
    assert attribute_bytes(splat) == source


# ------------------------------------------------------------------------------ 8. Save Frames
def test_save_frames_under_a_file_is_refused_before_the_job(sample, untouched, tmp_path, monkeypatch):
    bpy = sample[0]
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setattr("gs_enhancer_addon.core.job.EnhanceJob.run", lambda *a, **k: pytest.fail("the job ran"))
    for folder in (tmp_path / "a-file", tmp_path / "a-file" / "frames"):
        bpy.context.scene.gs_enhancer.frames_dir = str(folder)
        refused(bpy, "is a file")
    assert (tmp_path / "a-file").read_text() == "x"


def test_save_frames_into_a_read_only_folder_is_refused_before_the_job(sample, untouched, read_only_disk, monkeypatch):
    bpy = sample[0]
    monkeypatch.setattr("gs_enhancer_addon.core.job.EnhanceJob.run", lambda *a, **k: pytest.fail("the job ran"))
    bpy.context.scene.gs_enhancer.frames_dir = str(read_only_disk.path / "frames")
    refused(bpy, "not writable")


def test_save_frames_on_a_full_disk_rolls_back_everything(sample, untouched, small_disk):
    """No PNG (not even a 0-byte one), no object, no before/after image."""
    bpy = sample[0]
    small_disk.fill(leave_bytes=8192)
    disk_before = {p.name for p in small_disk.path.iterdir()}
    bpy.context.scene.gs_enhancer.frames_dir = str(small_disk.path / "frames")
    refused(bpy, "disk is full")
    assert {p.name for p in small_disk.path.iterdir()} == disk_before


def test_save_frames_failure_on_the_threaded_path_is_reported(sample, untouched, small_disk):
    from gs_enhancer_addon.blender.enhance_flow import snapshot_request
    from gs_enhancer_addon.blender.operators import enhance_in_background, pump_runner
    from gs_enhancer_addon.blender.runner import RUNNER

    bpy = sample[0]
    small_disk.fill(leave_bytes=8192)
    bpy.context.scene.gs_enhancer.frames_dir = str(small_disk.path / "frames")
    enhance_in_background(snapshot_request(bpy.context))
    deadline = time.monotonic() + 300
    while pump_runner() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert RUNNER.state.message == "Failed" and "disk is full" in RUNNER.state.error, RUNNER.state
    assert "\n" not in RUNNER.state.error
    assert not (small_disk.path / "frames").exists()


# ------------------------------------------------------------------- 8. multi-file import
def _damaged_files(folder, write_good):
    good = folder / "good.ply"
    write_good(good)
    data = good.read_bytes()
    header_end = data.index(b"end_header\n") + len(b"end_header\n")
    return good, {
        "truncated": data[: len(data) * 2 // 3],
        "empty": b"",
        "text": b"this is not a splat\n",
        "header-only": data[:header_end],
        "bad-header": data.replace(b"element vertex", b"element vortex", 1),
    }


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "header-only", "bad-header"])
def test_a_multi_file_import_with_one_bad_file_leaves_nothing(bpy_empty, tmp_path, damage):
    import gs_enhancer_addon
    from gs_enhancer_addon.core.io.ply import write_ply
    from gs_enhancer_addon.core.sample import sample_scene

    gs_enhancer_addon.register()
    try:
        bpy = bpy_empty
        good, variants = _damaged_files(tmp_path, lambda p: write_ply(sample_scene(SMALL), p))
        (tmp_path / "z-bad.ply").write_bytes(variants[damage])
        before, files = blocks(bpy), {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        with pytest.raises(RuntimeError) as error:
            bpy.ops.gse.import_splat(directory=str(tmp_path), files=[{"name": "good.ply"}, {"name": "z-bad.ply"}])
        assert "z-bad.ply" in str(error.value) and "\n" not in str(error.value).strip()
        assert blocks(bpy) == before, "no object, mesh, material or node group stays"
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    finally:
        gs_enhancer_addon.unregister()


# ------------------------------------------------------- the other classes, through the add-on
def test_cameras_looking_away_are_refused_as_in_the_cli(sample, untouched):
    bpy, _, cameras = sample
    for cam in cameras.objects:
        cam.rotation_euler.rotate_axis("X", math.pi)  # turn round: the splat is behind
    bpy.context.view_layer.update()
    refused(bpy, "not visible")


def test_a_huge_render_size_is_refused_before_any_allocation(sample, untouched):
    bpy = sample[0]
    render = bpy.context.scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = 65536, 65536, 100
    refused(bpy, "65536 pixels")


def test_non_finite_splats_in_the_source_are_refused(sample):
    bpy, splat, _ = sample
    values = np.zeros(len(splat.data.attributes["opacity"].data), dtype=np.float32)
    splat.data.attributes["opacity"].data.foreach_get("value", values)
    values[5] = np.nan
    splat.data.attributes["opacity"].data.foreach_set("value", values)
    before = blocks(bpy)
    refused(bpy, "NaN or infinite")
    assert blocks(bpy) == before


def test_out_of_memory_is_reported_with_what_to_lower(sample, untouched, monkeypatch):
    import torch

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr("gs_enhancer_addon.core.refine.refine", oom)
    refused(sample[0], "ran out of memory during the refine stage", "lower")
