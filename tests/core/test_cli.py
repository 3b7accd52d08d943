"""The headless command line: enhance a file along cameras from a file; clear errors; no partial files."""

from __future__ import annotations

import numpy as np
import pytest

from gs_enhancer_addon.cli import main
from gs_enhancer_addon.core.capture import load_cameras, write_cameras_json
from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene
from gs_enhancer_addon.core.io.ply import read_ply, write_ply

SMALL = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=2, width=32, height=24)
QUICK = ["--views-per-segment", "1", "--steps", "2", "--refine-iterations", "2", "--preset", "fast"]


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path / "models"))
    write_ply(sample_scene(SMALL), tmp_path / "in.ply")
    write_cameras_json(sample_cameras(SMALL), tmp_path / "cams.json")
    return tmp_path


def test_enhance_writes_result_and_sheet(inputs, capsys):
    out, sheet = inputs / "out" / "result.ply", inputs / "out" / "sheet.png"
    code = main(["enhance", str(inputs / "in.ply"), "--cameras", str(inputs / "cams.json"), "--out", str(out),
                 "--sheet", str(sheet), *QUICK])
    assert code == 0
    result = read_ply(out)
    assert len(result) == 300 and result.sh_degree == 1
    from PIL import Image

    assert Image.open(sheet).size == (3 * 32, 3 * 24)  # 3 views (2 references + 1) by 3 rows
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "untrained" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.ply", "sheet.png"], "no partial files left"


def test_bad_input_is_an_error_message_and_writes_nothing(inputs, capsys):
    (inputs / "broken.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 5\nend_header\n")
    out = inputs / "out.ply"
    code = main(["enhance", str(inputs / "broken.ply"), "--cameras", str(inputs / "cams.json"), "--out", str(out),
                 *QUICK])
    assert code == 2
    err = capsys.readouterr().err
    assert "broken.ply" in err and "Traceback" not in err
    assert not out.exists()

    code = main(["enhance", str(inputs / "in.ply"), "--cameras", str(inputs / "missing.json"), "--out", str(out)])
    assert code == 2 and "not found" in capsys.readouterr().err


def test_camera_file_round_trip(tmp_path):
    cameras = sample_cameras(SMALL)
    write_cameras_json(cameras, tmp_path / "cams.json")
    loaded = load_cameras(tmp_path / "cams.json")
    assert [c.name for c in loaded] == [c.name for c in cameras]
    for a, b in zip(cameras, loaded):
        assert np.array_equal(a.K, b.K) and np.array_equal(a.world_to_cam, b.world_to_cam)
        assert (a.width, a.height) == (b.width, b.height)
