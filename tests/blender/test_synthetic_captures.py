"""scripts/make_synthetic_captures.py at a tiny size: real bpy + Cycles on the CPU; the written
transforms.json goes through our reader and projects every object centre where Blender does."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_synthetic_captures.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_synthetic_captures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pixels(bpy, path) -> np.ndarray:  # [H, W, 4] float in [0, 1] (Blender's loader: no Pillow in every leg)
    image = bpy.data.images.load(str(path))
    pixels = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    return pixels.reshape(image.size[1], image.size[0], 4)


def test_tiny_synthetic_capture_round_trips_through_our_reader(tmp_path):
    bpy = pytest.importorskip("bpy")
    from gs_enhancer_addon.core.cameras import project_points
    from gs_enhancer_addon.core.capture import read_transforms_json

    assert _script().main(["--out", str(tmp_path), "--scenes", "1", "--seed", "7", "--views", "3",
                           "--width", "32", "--height", "24", "--samples", "2"]) == 0
    folder = tmp_path / "scene_007"
    cameras = read_transforms_json(folder / "transforms.json")
    truth = json.loads((folder / "truth.json").read_text())
    assert [Path(c.image_path).name for c in cameras] == ["000.png", "001.png", "002.png"]
    photos = [_pixels(bpy, c.image_path) for c in cameras]
    assert all(p.shape == (24, 32, 4) and p[..., :3].mean() > 0.01 for p in photos)  # lit, not black
    assert not np.array_equal(photos[0], photos[1])  # the camera moved
    centres = np.array([o["centre"] for o in truth["objects"]])
    for cam, blender in zip(cameras, truth["projected_centres"]):
        uv, depth = project_points(cam, centres)
        assert np.allclose(uv, np.array(blender)[:, :2], atol=1e-3)
        assert np.allclose(depth, np.array(blender)[:, 2], atol=1e-4)  # Blender's z: distance along the view axis
    assert len(truth["objects"]) >= 3 and truth["lights"][0]["type"] == "SUN"


def test_same_seed_same_scene(tmp_path):
    pytest.importorskip("bpy")
    script = _script()
    args = ["--scenes", "1", "--seed", "3", "--views", "3", "--width", "16", "--height", "16", "--samples", "1"]
    script.main(["--out", str(tmp_path / "a"), *args])
    script.main(["--out", str(tmp_path / "b"), *args])
    a, b = (json.loads((tmp_path / x / "scene_003" / "transforms.json").read_text()) for x in "ab")
    assert a == b
    assert json.loads((tmp_path / "a" / "scene_003" / "truth.json").read_text())["objects"] == \
        json.loads((tmp_path / "b" / "scene_003" / "truth.json").read_text())["objects"]
