"""Bad input through the command line: each class of issue 17, several variants each.

Most variants run `cli.main` in this process (torch imported once); a representative few run
`python -m gs_enhancer_addon` as a subprocess. Variants that must fail before any work replace
the job with a tripwire, so "checked before any work" is asserted, not assumed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import GL_TO_CV
from gs_enhancer_addon.core.io.ply import read_ply, write_ply
from gs_enhancer_addon.core.sample import sample_cameras, sample_scene

from .conftest import QUICK, SMALL, assert_finite_splat, assert_unchanged, digest, run_cli, run_cli_subprocess


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the job starts: the variant must be refused before any work."""
    from gs_enhancer_addon.core import job

    def tripwire(*args, **kwargs):
        raise AssertionError("the job ran, but the input should have been refused before any work")

    monkeypatch.setattr(job.EnhanceJob, "run", tripwire)


def enhance_args(inputs, cameras="cams.json", out="out.ply", *extra):
    return ["enhance", inputs / "in.ply", "--cameras", inputs / cameras, "--out", inputs / out, *QUICK, *extra]


# ------------------------------------------------------------------------- 1. non-finite values
def _with_splats(inputs, change) -> None:
    scene = sample_scene(SMALL)
    change(scene)
    write_ply(scene, inputs / "in.ply")


@pytest.mark.parametrize("value", [80.0, 1e6], ids=["log-scale-80", "log-scale-1e6"])
def test_huge_log_scales_are_repaired_with_a_note_and_never_written_as_nan(inputs, capsys, value):
    _with_splats(inputs, lambda s: s.log_scales.__setitem__(slice(0, 7), value))
    source = (inputs / "in.ply").read_bytes()
    outcome = run_cli(capsys, *enhance_args(inputs))
    assert outcome.code == 0, outcome.err[-2000:]
    assert "clamped" in outcome.out and "7 of 300 splats" in outcome.out
    assert_finite_splat(inputs / "out.ply")
    assert (inputs / "in.ply").read_bytes() == source


@pytest.mark.parametrize("field, index", [("K", (0, 0)), ("K", (1, 2)), ("world_to_cam", (0, 3))],
                         ids=["nan-focal", "nan-principal-point", "nan-translation"])
def test_nan_in_a_camera_is_refused(inputs, capsys, no_work, field, index):
    data = json.loads((inputs / "cams.json").read_text())
    row, col = index
    data["cameras"][1][field][row][col] = float("nan")
    (inputs / "cams.json").write_text(json.dumps(data))
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs)).assert_clean_error("NaN or infinite")
    assert_unchanged(inputs, before)


@pytest.mark.parametrize("field", ["means", "opacity_logits", "sh"])
def test_non_finite_splats_name_a_remedy_the_cli_has(inputs, capsys, no_work, field):
    _with_splats(inputs, lambda s: getattr(s, field).__setitem__(3, np.inf if field == "sh" else np.nan))
    before = digest(inputs)
    line = run_cli(capsys, *enhance_args(inputs)).assert_clean_error("in.ply", "NaN or infinite", "--drop-invalid")
    assert "nonfinite=" not in line, "no Python keyword in a user message"
    assert_unchanged(inputs, before)


def test_drop_invalid_is_the_remedy_it_names(inputs, capsys):
    _with_splats(inputs, lambda s: s.means.__setitem__(3, np.nan))
    outcome = run_cli(capsys, *enhance_args(inputs, "cams.json", "out.ply", "--drop-invalid"))
    assert outcome.code == 0, outcome.err[-2000:]
    assert len(read_ply(inputs / "out.ply")) == 299
    assert_finite_splat(inputs / "out.ply")


# ------------------------------------------------------------------- 2. camera files that crash
def _cams_json(inputs, change) -> None:
    data = json.loads((inputs / "cams.json").read_text())
    change(data)
    (inputs / "cams.json").write_text(json.dumps(data))


def _set(camera_index, key, value):
    return lambda d: d["cameras"][camera_index].__setitem__(key, value)


def _set_k(row, col, value):
    return lambda d: d["cameras"][0]["K"][row].__setitem__(col, value)


CAMS_JSON = {
    "singular-world_to_cam": (_set(0, "world_to_cam", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]),
                              "singular"),
    "mirrored-pose": (_set(0, "world_to_cam", np.diag([-1.0, 1, 1, 1]).tolist()), "mirrored"),
    "sheared-pose": (_set(1, "world_to_cam", [[1, 2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4], [0, 0, 0, 1]]), "rotation"),
    "cameras-is-a-number": (lambda d: d.__setitem__("cameras", 5), "must be a list"),
    "camera-is-a-list": (lambda d: d.__setitem__("cameras", [[1, 2, 3], [4]]), "malformed"),
    "width-is-text": (_set(0, "width", "abc"), "malformed"),
    "K-is-text": (_set(0, "K", "abc"), "malformed"),
    "zero-focal": (_set_k(0, 0, 0.0), "focal length"),
    "negative-focal": (_set_k(1, 1, -30.0), "focal length"),
    "100000px-image": (lambda d: [_set(0, k, 100000)(d) for k in ("width", "height")], "100000 pixels"),
    "no-cameras": (lambda d: d.__setitem__("cameras", []), "no cameras"),
}


@pytest.mark.parametrize("name", list(CAMS_JSON))
def test_malformed_cams_json_is_an_error_line(inputs, capsys, no_work, name):
    change, expected = CAMS_JSON[name]
    _cams_json(inputs, change)
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs)).assert_clean_error("cams.json", expected)
    assert_unchanged(inputs, before)


def _transforms(inputs, change) -> None:
    frames = []
    for i, cam in enumerate(sample_cameras(SMALL)):
        c2w_gl = np.linalg.inv(cam.world_to_cam) @ GL_TO_CV
        frames.append({"file_path": f"images/{i}.png", "transform_matrix": c2w_gl.tolist()})
    cam = sample_cameras(SMALL)[0]
    data = {"fl_x": cam.K[0, 0], "fl_y": cam.K[1, 1], "cx": cam.K[0, 2], "cy": cam.K[1, 2],
            "w": cam.width, "h": cam.height, "frames": frames}
    change(data)
    (inputs / "transforms.json").write_text(json.dumps(data))


TRANSFORMS = {
    "singular-transform_matrix": (lambda d: d["frames"][0].__setitem__("transform_matrix", np.zeros((4, 4)).tolist()),
                                  "singular"),
    "w-is-text": (lambda d: d.__setitem__("w", "abc"), "malformed"),
    "frames-are-numbers": (lambda d: d.__setitem__("frames", [5, 6]), "not a JSON object"),
    "fl_x-is-a-list": (lambda d: d.__setitem__("fl_x", [1, 2]), "malformed"),
    "zero-focal": (lambda d: d.__setitem__("fl_x", 0.0), "focal length"),
    "100000px-image": (lambda d: d.update(w=100000, h=100000), "100000 pixels"),
    "negative-height": (lambda d: d.__setitem__("h", -24), "height"),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_malformed_transforms_json_is_an_error_line(inputs, capsys, no_work, name):
    change, expected = TRANSFORMS[name]
    _transforms(inputs, change)
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs, "transforms.json")).assert_clean_error("transforms.json", expected)
    assert_unchanged(inputs, before)


COLMAP = {
    "zero-quaternion": ("1 PINHOLE 32 24 30 30 16 12\n", "1 0 0 0 0 0 0 4 1 a.png\n\n2 1 0 0 0 0 0 4 1 b.png\n\n",
                        "no valid rotation"),
    "text-image-id": ("1 PINHOLE 32 24 30 30 16 12\n", "x 1 0 0 0 0 0 4 1 a.png\n\n", "malformed"),
    "zero-focal": ("1 PINHOLE 32 24 0 30 16 12\n", "1 1 0 0 0 0 0 4 1 a.png\n\n2 1 0 0 0 0 0 4 1 b.png\n\n",
                   "focal length"),
    "huge-image": ("1 PINHOLE 100000 100000 30 30 16 12\n", "1 1 0 0 0 0 0 4 1 a.png\n\n", "100000 pixels"),
}


@pytest.mark.parametrize("name", list(COLMAP))
def test_malformed_colmap_model_is_an_error_line(inputs, capsys, no_work, name):
    cameras_txt, images_txt, expected = COLMAP[name]
    model = inputs / "sparse"
    model.mkdir()
    (model / "cameras.txt").write_text(cameras_txt)
    (model / "images.txt").write_text(images_txt)
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs, "sparse")).assert_clean_error(expected)
    assert_unchanged(inputs, before)


def test_a_bad_camera_file_through_the_real_command(inputs):
    """The representative subprocess: a singular matrix and a text width, as a user would type it."""
    _transforms(inputs, lambda d: (d["frames"][0].__setitem__("transform_matrix", np.zeros((4, 4)).tolist()),
                                   d.__setitem__("w", "abc")))
    before = digest(inputs)
    outcome = run_cli_subprocess(*enhance_args(inputs, "transforms.json"), cwd=inputs)
    outcome.assert_clean_error("transforms.json")
    assert_unchanged(inputs, before)


# ----------------------------------------------------------------------- 3. cameras that see nothing
def _look(eye, target, up=(0, 0, 1)):
    from gs_enhancer_addon.core.cameras import look_at

    return look_at(eye, target, up).tolist()


BLIND = {
    "looking-away": lambda d, i: d["cameras"][i].__setitem__(
        "world_to_cam", _look(np.linalg.inv(np.array(d["cameras"][i]["world_to_cam"]))[:3, 3],
                              2 * np.linalg.inv(np.array(d["cameras"][i]["world_to_cam"]))[:3, 3])),
    "looking-at-the-sky": lambda d, i: d["cameras"][i].__setitem__("world_to_cam", _look((4, i, 1), (4.1, i, 50))),
    "shifted-sideways": lambda d, i: d["cameras"][i].__setitem__("world_to_cam", _look((4, 500 + i, 1), (0, 500 + i, 1))),
    "principal-point-far-off": lambda d, i: d["cameras"][i]["K"][0].__setitem__(2, 1e5),
    "splat-behind-the-cameras": lambda d, i: d["cameras"][i].__setitem__("world_to_cam", _look((5 + i, 0, 1), (9, i, 1))),
}


@pytest.mark.parametrize("name", list(BLIND))
def test_cameras_that_see_nothing_are_refused_before_rendering(inputs, capsys, name):
    _cams_json(inputs, lambda d: [BLIND[name](d, i) for i in range(len(d["cameras"]))])
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs)).assert_clean_error("not visible")
    assert_unchanged(inputs, before)


# ------------------------------------------------------------- 5. outputs checked before any work
OUTPUTS = {
    "out-is-the-input": (["--out", "in.ply"], "input of the run"),
    "out-is-the-input-via-dotdot": (["--out", "folder.ply/../in.ply"], "input of the run"),
    "sheet-is-the-input": (["--sheet", "in.ply"], ".png"),
    "sheet-is-the-input-png": (["--sheet", "cams.json"], ".png"),
    "out-is-the-cameras": (["--out", "cams.ply", "--sheet", "sheet.png", "--blend", "cams.json"], ".blend"),
    "out-is-txt": (["--out", "result.txt"], ".ply or .splat"),
    "out-is-a-folder": (["--out", "folder.ply"], "folder"),
    "sheet-is-jpg": (["--sheet", "sheet.jpg"], ".png"),
    "parent-is-a-file": (["--out", "in.ply/result.ply"], "is a file"),
    "grandparent-is-a-file": (["--sheet", "cams.json/a/b/sheet.png"], "is a file"),
    "two-outputs-one-file": (["--out", "r.ply", "--sheet", "s.png", "--blend", "s.png"], ".blend"),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_output_paths_are_checked_before_any_work(inputs, capsys, no_work, name):
    (inputs / "folder.ply").mkdir()
    options, expected = OUTPUTS[name]
    argv = ["enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out", inputs / "out.ply", *QUICK]
    for key, value in zip(options[::2], options[1::2]):
        argv += [key, inputs / value]
    before = digest(inputs)
    run_cli(capsys, *argv).assert_clean_error(expected)
    assert_unchanged(inputs, before)
    assert (inputs / "folder.ply").is_dir() and not any((inputs / "folder.ply").iterdir())


def test_out_is_the_input_through_a_link(inputs, capsys, no_work):
    (inputs / "link.ply").symlink_to(inputs / "in.ply")
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs, "cams.json", "link.ply")).assert_clean_error("input of the run")
    assert_unchanged(inputs, before)


def test_read_only_output_folder_is_refused_before_any_work(inputs, capsys, no_work, read_only_disk):
    before = digest(inputs)
    run_cli(capsys, *enhance_args(inputs), "--sheet", read_only_disk.path / "sheet.png").assert_clean_error(
        "not writable")
    assert_unchanged(inputs, before)
    assert not any(read_only_disk.path.iterdir())


def test_demo_into_a_file_is_refused_before_any_work(inputs, capsys, no_work):
    before = digest(inputs)
    run_cli(capsys, "demo", "--out", inputs / "in.ply").assert_clean_error("is a file")
    run_cli(capsys, "demo", "--out", inputs / "cams.json" / "demo").assert_clean_error("is a file")
    assert_unchanged(inputs, before)


def test_out_equal_to_input_through_the_real_command(inputs):
    before = digest(inputs)
    run_cli_subprocess(*enhance_args(inputs, "cams.json", "in.ply"), cwd=inputs).assert_clean_error("input of the run")
    assert_unchanged(inputs, before)


# --------------------------------------------------------------------- 7. options, one rule each
OPTIONS = {
    "views-per-segment-0": (["--views-per-segment", "0"], "views per segment"),
    "views-per-segment-negative": (["--views-per-segment", "-3"], "views per segment"),
    "refine-iterations-negative": (["--refine-iterations", "-5"], "refine iterations"),
    "steps-0": (["--steps", "0"], "steps"),
    "steps-negative": (["--steps", "-2"], "steps"),
    "views-per-segment-text": (["--views-per-segment", "abc"], "invalid int"),
    "preset-unknown": (["--preset", "ultra"], "invalid choice"),
    "models-missing-folder": (["--models", "no-such-folder"], "no-such-folder"),
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_options_are_validated_the_same_way(inputs, capsys, no_work, name):
    options, expected = OPTIONS[name]
    before = digest(inputs)
    argv = ["enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out", inputs / "out.ply", *options]
    run_cli(capsys, *argv).assert_clean_error(expected)
    assert_unchanged(inputs, before)


def test_zero_refine_iterations_means_none_not_the_preset():
    from gs_enhancer_addon.core.job_config import preset_config

    assert preset_config("fast", refine_iterations=0).refine.iterations == 0
    assert preset_config("fast", refine_iterations=None).refine.iterations == 150


def test_bad_options_through_the_real_command(inputs):
    before = digest(inputs)
    outcome = run_cli_subprocess(*enhance_args(inputs), "--views-per-segment", "0", cwd=inputs)
    outcome.assert_clean_error("views per segment")
    assert_unchanged(inputs, before)
