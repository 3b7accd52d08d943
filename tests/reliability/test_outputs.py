"""All or nothing across several outputs (class 6), and disk-full words (class 9).

One small job result is computed once and written under bad conditions: a full disk (a 1 MiB
tmpfs), an interrupt in the middle, a writer that leaves a truncated file, a result holding NaN,
a target that turns into a folder. Every failure must leave none of the outputs behind.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from .conftest import QUICK, ROOT, SMALL, assert_finite_splat, assert_unchanged, digest, run_cli


@pytest.fixture(scope="module")
def job_result(tiny_model_cache):
    from gs_enhancer_addon.core.job import EnhanceJob
    from gs_enhancer_addon.core.job_config import preset_config
    from gs_enhancer_addon.core.sample import sample_cameras, sample_scene

    config = preset_config("fast", steps=2, refine_iterations=2, views_per_segment=1)
    scene, cameras = sample_scene(SMALL), sample_cameras(SMALL)
    return EnhanceJob(config).run(scene, cameras), scene, cameras


def write(result, folder, splat="r.ply", sheet=None, blend=None):
    """The CLI's output writer, as `enhance` calls it."""
    from gs_enhancer_addon.cli import _write_outputs

    def at(path):  # a name in `folder`, or a path elsewhere
        return folder / path if isinstance(path, str) else path

    job, scene, cameras = result
    return _write_outputs(job, at(splat), at(blend), at(sheet), name="r", source=scene, cameras=cameras)


def test_all_outputs_are_written_and_verified(job_result, tmp_path):
    pytest.importorskip("bpy")
    paths = write(job_result, tmp_path, sheet="s.png", blend="r.blend")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.blend", "r.ply", "s.png"], "no temporaries left"
    assert_finite_splat(paths["result splat"])


def test_a_sheet_on_a_full_disk_removes_the_written_splat_too(inputs, capsys, small_disk):
    """The issue's example, through the whole command."""
    small_disk.fill()
    before, disk_before = digest(inputs), digest(small_disk.path)
    outcome = run_cli(capsys, "enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out",
                      inputs / "out.ply", "--sheet", small_disk.path / "sheet.png", *QUICK)
    outcome.assert_clean_error("sheet.png", "disk is full")
    assert "requested and" not in outcome.err
    assert_unchanged(inputs, before)
    assert digest(small_disk.path) == disk_before


def test_a_blend_on_a_full_disk_is_never_published(job_result, tmp_path, small_disk):
    pytest.importorskip("bpy")
    from gs_enhancer_addon.core.errors import OutputError

    small_disk.fill(leave_bytes=64 * 1024)  # room to start the file, not to finish it
    disk_before = digest(small_disk.path)
    with pytest.raises(OutputError) as error:
        write(job_result, tmp_path, sheet="s.png", blend=small_disk.path / "r.blend")
    assert "\n" not in str(error.value) and "r.blend" in str(error.value)
    assert not any(tmp_path.iterdir()), "the splat and the sheet written before are removed"
    assert digest(small_disk.path) == disk_before


@pytest.mark.parametrize("leave", [0, 4096, 20000], ids=["no-room", "4-KiB-left", "20-KB-left"])
def test_a_splat_on_a_full_disk_says_disk_full(job_result, small_disk, leave):
    from gs_enhancer_addon.core.errors import GsEnhancerError

    small_disk.fill(leave_bytes=leave)
    disk_before = digest(small_disk.path)
    with pytest.raises(GsEnhancerError, match="disk is full") as error:
        write(job_result, small_disk.path)
    assert "requested and" not in str(error.value)
    assert digest(small_disk.path) == disk_before


def test_an_interrupt_between_outputs_leaves_none(job_result, tmp_path, monkeypatch):
    from gs_enhancer_addon.core import image_io

    def interrupted(image, path):
        raise KeyboardInterrupt

    monkeypatch.setattr("gs_enhancer_addon.cli.save_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write(job_result, tmp_path / "new" / "folder", sheet="s.png")
    assert not any(tmp_path.iterdir()), "outputs, temporaries and the folders made for them are gone"
    assert image_io.save_png is not interrupted


def test_a_truncated_image_is_never_published(job_result, tmp_path, monkeypatch):
    from gs_enhancer_addon.core.errors import OutputError
    from gs_enhancer_addon.core.image_io import save_png

    def truncated(image, path):
        save_png(image, path)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])

    monkeypatch.setattr("gs_enhancer_addon.cli.save_png", truncated)
    with pytest.raises(OutputError, match="incomplete"):
        write(job_result, tmp_path, sheet="s.png")
    assert not any(tmp_path.iterdir())


def test_a_truncated_blend_is_never_published(tmp_path):
    """What Blender did on a full disk: a "successful" save of a cut-off .blend."""
    bpy = pytest.importorskip("bpy")
    from gs_enhancer_addon.core.errors import OutputError
    from gs_enhancer_addon.core.outputs import Output, write_outputs

    bpy.ops.wm.read_factory_settings(use_empty=True)

    def cut_off_save(path):
        bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False, compress=False)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])

    with pytest.raises(OutputError, match="incomplete"):
        write_outputs([Output(tmp_path / "x.blend", "blend", cut_off_save)])
    assert not any(tmp_path.iterdir())


def test_a_non_finite_result_is_never_written(job_result, tmp_path):
    from gs_enhancer_addon.core.errors import GsEnhancerError

    job, scene, cameras = job_result
    broken = job.scene.copy()
    broken.log_scales[4] = np.inf
    with pytest.raises(GsEnhancerError, match="NaN or infinite"):
        write((dataclasses.replace(job, scene=broken), scene, cameras), tmp_path, sheet="s.png")
    assert not any(tmp_path.iterdir())


def test_a_target_that_became_a_folder_rolls_back_every_output(job_result, tmp_path):
    from gs_enhancer_addon.core.errors import OutputError

    (tmp_path / "s.png").mkdir()  # appeared after the check: publishing the sheet fails
    (tmp_path / "s.png" / "x").write_text("x")
    with pytest.raises(OutputError):
        write(job_result, tmp_path, sheet="s.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"] and not (tmp_path / "r.ply").exists()


def test_ctrl_c_while_bpy_loads_for_the_blend_exits_130_and_leaves_nothing(inputs):
    """SIGINT to the real command the moment Blender's module is being loaded (it crashed with 139
    and left the result .ply): now bpy loads before the job, with Ctrl+C held until it is in."""
    pytest.importorskip("bpy")
    before = digest(inputs)
    argv = [sys.executable, "-m", "gs_enhancer_addon", "enhance", str(inputs / "in.ply"), "--cameras",
            str(inputs / "cams.json"), "--out", str(inputs / "out.ply"), "--blend", str(inputs / "out.blend"),
            "--sheet", str(inputs / "out.png"), *QUICK]
    proc = subprocess.Popen(argv, cwd=inputs, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = f"/proc/{proc.pid}/maps"
    while proc.poll() is None:  # wait for bpy's shared library to appear in the process
        try:
            if "bpy/__init__" in open(maps).read():
                break
        except OSError:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err
    assert_unchanged(inputs, before)
