"""make-pairs on a tiny capture (the sample splat rendered from a ring of cameras): a well-formed dataset
that train-enhancer's loader reads, resume and cancel, COLMAP sparse points, unusable captures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.geometry import quat_from_matrix
from gs_enhancer_addon.core.capture import write_cameras_json
from gs_enhancer_addon.core.enhance.data import load_dataset
from gs_enhancer_addon.core.errors import Cancelled, InputError
from gs_enhancer_addon.core.image_io import save_png
from gs_enhancer_addon.core.pairs import (
    PairsConfig, initial_scene, make_pairs, read_capture, reference_indices, window_spans,
)
from gs_enhancer_addon.core.render import render_views
from gs_enhancer_addon.core.sample import SampleConfig, sample_scene

from ..builders import camera_looking_at

VIEWS = 9
FAST = dict(iterations=2, random_points=200, device="cpu")


def _ring(views: int = VIEWS):
    eyes = [(4.5 * np.cos(a), 4.5 * np.sin(a), 1.5) for a in np.linspace(0.0, 1.5 * np.pi, views)]
    return [camera_looking_at(e, (0, 0, 1.0), width=32, height=24, focal=28.0, name=f"{i:03d}.png")
            for i, e in enumerate(eyes)]


def _write_photos(folder, cameras):
    folder.mkdir(parents=True, exist_ok=True)
    scene = sample_scene(SampleConfig(sphere_gaussians=300, ground_gaussians=200))
    photos = render_views(scene, cameras, "cpu").numpy()
    for cam, photo in zip(cameras, photos):
        save_png(photo, folder / cam.name)
        cam.image_path = str(folder / cam.name)
    return photos


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    root = tmp_path_factory.mktemp("captures") / "capture"
    cameras = _ring()
    _write_photos(root / "images", cameras)
    write_cameras_json(cameras, root / "cams.json")
    return root / "cams.json"


def test_reference_picks_and_windows():
    assert reference_indices(9, 3) == [0, 4, 8]
    assert reference_indices(9, 4) == [0, 3, 5, 8]
    assert window_spans([0, 1, 3, 8]) == [(1, 3), (3, 8)]  # neighbours leave no view to enhance


def test_tiny_capture_gives_a_dataset_train_enhancer_reads(capture, tmp_path):
    result = make_pairs(capture, tmp_path / "data", PairsConfig(view_counts=(3, 4), **FAST))
    assert result.fitted == [3, 4] and all(p.is_file() for p in result.splats.values())
    pairs = load_dataset(tmp_path / "data")
    assert [p.name for p in pairs] == [f"capture-n03-w0{i}" for i in range(2)] + [f"capture-n04-w0{i}" for i in range(3)]
    cams = read_capture(capture).cameras
    manifest = json.loads((tmp_path / "data" / "capture.pairs.json").read_text())
    for pair in pairs:
        count = int(pair.name.split("-n")[1][:2])
        refs = manifest["view_counts"][str(count)]["references"]
        w = int(pair.name[-2:])
        a, b = refs[w], refs[w + 1]
        assert pair.inputs.shape == pair.targets.shape == (b - a + 1, 3, 24, 32)
        assert torch.equal(pair.inputs[0], pair.targets[0]) and torch.equal(pair.inputs[-1], pair.targets[-1])
        assert (pair.inputs[1:-1] - pair.targets[1:-1]).abs().mean() > 0.02  # renders of a 2-step fit, not photos
        assert [c.name for c in pair.cameras] == [c.name for c in cams[a:b + 1]]
        assert all(np.allclose(p.world_to_cam, c.world_to_cam) for p, c in zip(pair.cameras, cams[a:b + 1]))
    for pair, cam_index in ((pairs[0], 0), (pairs[0], 2)):  # targets are the capture's photos
        from PIL import Image

        photo = np.asarray(Image.open(cams[cam_index].image_path), dtype=np.float32) / 255.0
        assert np.array_equal(pair.targets[cam_index].permute(1, 2, 0).numpy(), photo)

    from gs_enhancer_addon.core.enhance.components import dummy_components
    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline
    from gs_enhancer_addon.core.enhance.training import EnhancerTrainConfig, train_enhancer

    trained = train_enhancer(EnhancerTrainConfig(dataset=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                                                 steps=1, device="cpu"), pipe=EnhancerPipeline(**dummy_components()))
    assert len(trained.losses) == 1 and np.isfinite(trained.losses[0])


def test_cancel_leaves_no_half_window_and_resume_skips_finished_work(capture, tmp_path):
    out = tmp_path / "data"
    with pytest.raises(Cancelled):
        make_pairs(capture, out, PairsConfig(view_counts=(3, 4), **FAST), cancel=lambda: True)
    assert not [p for p in out.iterdir() if p.is_dir()]
    messages = []
    with pytest.raises(Cancelled):
        make_pairs(capture, out, PairsConfig(view_counts=(3, 4), **FAST), progress=lambda f, m: messages.append(m),
                   cancel=lambda: any(m.startswith("N=4") for m in messages))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["capture-n03-w00", "capture-n03-w01"]
    stamp = (out / "capture-n03-w00" / "input" / "001.png").stat().st_mtime_ns
    resumed = make_pairs(capture, out, PairsConfig(view_counts=(3, 4), **FAST))
    assert resumed.fitted == [4]  # N=3 was finished: not refitted
    assert (out / "capture-n03-w00" / "input" / "001.png").stat().st_mtime_ns == stamp
    assert len(load_dataset(out)) == 5
    assert make_pairs(capture, out, PairsConfig(view_counts=(3, 4), **FAST)).fitted == []


def test_colmap_capture_uses_its_sparse_points(tmp_path):
    cameras = _ring(5)
    _write_photos(tmp_path / "images", cameras)
    model = tmp_path / "sparse" / "0"
    model.mkdir(parents=True)
    fx, cx, cy = cameras[0].K[0, 0], cameras[0].K[0, 2], cameras[0].K[1, 2]
    (model / "cameras.txt").write_text(f"1 PINHOLE 32 24 {fx} {fx} {cx} {cy}\n")
    lines = []
    for i, cam in enumerate(cameras):
        q, t = quat_from_matrix(cam.world_to_cam[:3, :3]), cam.world_to_cam[:3, 3]
        lines += [f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {cam.name}", ""]
    (model / "images.txt").write_text("\n".join(lines) + "\n")
    points = np.random.default_rng(0).normal(size=(12, 3))
    (model / "points3D.txt").write_text("".join(f"{k + 1} {x} {y} {z} 255 0 0 0.5 1 0\n"
                                                for k, (x, y, z) in enumerate(points)))
    capture = read_capture(tmp_path)
    assert [c.name for c in capture.cameras] == [c.name for c in cameras]
    assert np.allclose(capture.points[0], points) and np.allclose(capture.points[1], [1.0, 0.0, 0.0])
    init = initial_scene(capture, PairsConfig())
    assert np.allclose(init.means, points, atol=1e-6) and np.allclose(init.colors()[:, 0], 1.0, atol=1e-3)
    assert len(load_dataset(make_pairs(tmp_path, tmp_path / "data", PairsConfig(view_counts=(3,), **FAST))
                            .windows[0].parent)) == 2


def test_random_initialisation_surrounds_what_the_cameras_look_at(capture):
    init = initial_scene(read_capture(capture), PairsConfig(random_points=500))
    assert len(init) == 500
    assert np.linalg.norm(init.means.mean(0) - np.array([0.0, 0.0, 1.0])) < 0.6  # the ring looks at (0, 0, 1)


def test_unusable_captures_get_clear_errors(capture, tmp_path):
    cams = read_capture(capture).cameras
    write_cameras_json(cams[:2], tmp_path / "two.json")
    with pytest.raises(InputError, match="at least 3 photos"):
        make_pairs(tmp_path / "two.json", tmp_path / "out")
    missing = [cams[0], cams[1], type(cams[2])(cams[2].K, cams[2].world_to_cam, 32, 24, "gone.png", None)]
    write_cameras_json(missing, tmp_path / "missing.json")
    with pytest.raises(InputError, match="no photo"):
        make_pairs(tmp_path / "missing.json", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing made for an unusable capture
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="transforms.json"):
        make_pairs(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(InputError, match="at least 2"):
        PairsConfig(view_counts=(1,))
    result = make_pairs(capture, tmp_path / "few", PairsConfig(view_counts=(24,), **FAST))
    assert not result.windows and "skipped" in result.notes[0]


def test_make_pairs_command(capture, tmp_path, capsys):
    from gs_enhancer_addon.cli import main

    code = main(["make-pairs", str(capture), str(tmp_path / "data"), "--views", "3", "--iterations", "1",
                 "--random-points", "100", "--device", "cpu"])
    assert code == 0 and "2 training windows" in capsys.readouterr().out
    assert len(load_dataset(tmp_path / "data")) == 2
    assert main(["make-pairs", str(capture), str(tmp_path / "data"), "--views", "3,x"]) == 2
    assert "--views" in capsys.readouterr().err
