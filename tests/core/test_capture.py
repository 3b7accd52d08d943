"""core/capture: transforms.json and COLMAP (text + binary) against a synthetic capture with a known answer.

The known answer: cameras (K, OpenCV world_to_cam) looking at known 3D points, so every point's
pixel is known. Each format is written here from its specification (COLMAP: w2c, qw qx qy qz,
OpenCV axes; transforms.json: OpenGL c2w), read back, and must put every point on the same pixel.
World variants (nerfstudio's applied_transform, dataparser_transforms.json, instant-ngp's
nerf_matrix_to_ngp) move the points as those tools move the splat; the cameras must follow.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import Camera, look_at, project_points
from gs_enhancer_addon.core.geometry import quat_from_matrix
from gs_enhancer_addon.core.capture import read_colmap_model, read_transforms_json
from gs_enhancer_addon.core.errors import InputError

RNG = np.random.default_rng(7)
POINTS = RNG.uniform(-1, 1, size=(50, 3))  # the "scene": what a splat trained on the capture holds
GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def capture_cameras() -> list[Camera]:
    cams = []
    for i, a in enumerate(np.linspace(0, 2 * math.pi, 5, endpoint=False)):
        eye = (4 * math.cos(a), 4 * math.sin(a), 1.5 + 0.3 * i)
        K = np.array([[300.0 + 10 * i, 0, 160.5 - i], [0, 310.0 + 5 * i, 120.25 + i], [0, 0, 1]])
        cams.append(Camera(K, look_at(eye, (0.1 * i, 0, 0)), 320, 240, f"img_{i:03d}.png"))
    return cams


def assert_same_pixels(read: list[Camera], truth: list[Camera], points_read=POINTS, points_truth=POINTS, tol=1e-6):
    assert [c.name for c in read] == [c.name for c in truth]
    for a, b in zip(read, truth):
        assert (a.width, a.height) == (b.width, b.height)
        uv_a, z_a = project_points(a, points_read)
        uv_b, z_b = project_points(b, points_truth)
        assert np.all(z_b > 0) and np.all(z_a > 0)
        assert np.abs(uv_a - uv_b).max() < tol


# ---------------------------------------------------------------------------------------------- COLMAP


def write_colmap_text(folder: Path, cams: list[Camera], model="PINHOLE", with_points=False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    for i, c in enumerate(cams, start=1):
        fx, fy, cx, cy = c.K[0, 0], c.K[1, 1], c.K[0, 2], c.K[1, 2]
        params = {"PINHOLE": [fx, fy, cx, cy], "OPENCV": [fx, fy, cx, cy, 0.01, -0.002, 0.0, 0.0]}.get(model)
        if model == "SIMPLE_PINHOLE":
            params = [fx, cx, cy]
        lines.append(f"{i} {model} {c.width} {c.height} " + " ".join(repr(float(p)) for p in params))
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:", "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]
    for i, c in enumerate(reversed(cams), start=1):  # file order is not name order
        q, t = quat_from_matrix(c.world_to_cam[:3, :3]), c.world_to_cam[:3, 3]
        if i % 2:
            q = -q  # q and -q are the same rotation
        cam_id = len(cams) - i + 1
        lines.append(f"{i} " + " ".join(repr(float(v)) for v in (*q, *t)) + f" {cam_id} {c.name}")
        lines.append("10.5 20.5 3 30.0 40.0 -1" if with_points and i % 2 else "")
    (folder / "images.txt").write_text("\n".join(lines) + "\n")


def write_colmap_binary(folder: Path, cams: list[Camera]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "cameras.bin", "wb") as f:
        f.write(struct.pack("<Q", len(cams)))
        for i, c in enumerate(cams, start=1):  # model 1 = PINHOLE, 4 params
            f.write(struct.pack("<iiQQ", i, 1, c.width, c.height))
            f.write(struct.pack("<4d", c.K[0, 0], c.K[1, 1], c.K[0, 2], c.K[1, 2]))
    with open(folder / "images.bin", "wb") as f:
        f.write(struct.pack("<Q", len(cams)))
        for i, c in enumerate(cams, start=1):
            q, t = quat_from_matrix(c.world_to_cam[:3, :3]), c.world_to_cam[:3, 3]
            f.write(struct.pack("<i7di", 100 + i, *q, *t, i))
            f.write(c.name.encode() + b"\x00")
            f.write(struct.pack("<Q", i))  # i observations, each x, y, point3D id
            for k in range(i):
                f.write(struct.pack("<ddq", 1.5 * k, 2.5 * k, k if k % 2 else -1))


def test_colmap_text_model_poses_cameras_exactly(tmp_path):
    truth = capture_cameras()
    write_colmap_text(tmp_path / "sparse" / "0", truth, with_points=True)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / truth[2].name).write_bytes(b"not really a png")
    read = read_colmap_model(tmp_path / "sparse" / "0")
    assert_same_pixels(read, truth)
    assert read[2].image_path == str(tmp_path / "images" / truth[2].name)
    assert read[0].image_path is None  # photo missing on disk
    assert all(np.allclose(a.K, b.K) for a, b in zip(read, truth))


def test_colmap_binary_model_matches_text_model(tmp_path):
    truth = capture_cameras()
    write_colmap_binary(tmp_path / "bin", truth)
    write_colmap_text(tmp_path / "txt", truth)
    read_bin, read_txt = read_colmap_model(tmp_path / "bin"), read_colmap_model(tmp_path / "txt")
    assert_same_pixels(read_bin, truth)
    for a, b in zip(read_bin, read_txt):
        assert np.allclose(a.world_to_cam, b.world_to_cam, atol=1e-12) and np.allclose(a.K, b.K)
    assert read_bin[0].metadata["colmap_image_id"] == 101


@pytest.mark.parametrize("model", ["SIMPLE_PINHOLE", "OPENCV"])
def test_colmap_camera_models(tmp_path, model):
    truth = capture_cameras()
    for c in truth:  # SIMPLE_PINHOLE has one focal length
        c.K[1, 1] = c.K[0, 0]
    write_colmap_text(tmp_path, truth, model=model)
    read = read_colmap_model(tmp_path)
    assert_same_pixels(read, truth)
    if model == "OPENCV":
        assert read[0].metadata["distortion"] == [0.01, -0.002, 0.0, 0.0]  # k1 k2 p1 p2, zeros in place


def test_colmap_refuses_fisheye_and_missing_files(tmp_path):
    write_colmap_text(tmp_path, capture_cameras())
    text = (tmp_path / "cameras.txt").read_text().replace("PINHOLE", "OPENCV_FISHEYE")
    (tmp_path / "cameras.txt").write_text(text)
    with pytest.raises(InputError, match="OPENCV_FISHEYE is not supported"):
        read_colmap_model(tmp_path)
    with pytest.raises(InputError, match="not a COLMAP sparse model"):
        read_colmap_model(tmp_path / "nowhere")
    write_colmap_binary(tmp_path / "b", capture_cameras())
    data = (tmp_path / "b" / "images.bin").read_bytes()
    (tmp_path / "b" / "images.bin").write_bytes(data[:40])
    with pytest.raises(InputError, match="truncated"):
        read_colmap_model(tmp_path / "b")


# ---------------------------------------------------------------------------------------------- transforms.json


def frames_for(cams: list[Camera], world_map=lambda c2w: c2w) -> list[dict]:
    frames = []
    for c in cams:
        c2w_gl = world_map(np.linalg.inv(c.world_to_cam)) @ GL_FROM_CV
        frames.append({"file_path": f"images/{c.name}", "transform_matrix": c2w_gl.tolist()})
    return frames


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def nerfstudio_intrinsics(cams, per_frame: bool, frames: list[dict]) -> dict:
    """Intrinsics per frame, or once at top level (then every camera must share the first one's K)."""
    meta = {"camera_model": "OPENCV", "w": cams[0].width, "h": cams[0].height}
    for f, c in zip(frames, cams):
        target = f if per_frame else meta
        if per_frame or c is cams[0]:
            target.update(fl_x=c.K[0, 0], fl_y=c.K[1, 1], cx=c.K[0, 2], cy=c.K[1, 2])
    return meta


def test_nerfstudio_file_world_per_frame_intrinsics(tmp_path):
    truth = capture_cameras()
    frames = frames_for(truth)
    meta = nerfstudio_intrinsics(truth, per_frame=True, frames=frames)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / truth[1].name).write_bytes(b"x")
    read = read_transforms_json(write_json(tmp_path / "transforms.json", {**meta, "frames": frames[::-1]}))
    assert_same_pixels(read, truth)
    assert read[1].image_path == str(tmp_path / "images" / truth[1].name) and read[0].image_path is None


def test_nerf_synthetic_camera_angle_and_size_from_png(tmp_path):
    truth = [Camera(np.array([[400.0, 0, 50], [0, 400.0, 40], [0, 0, 1]]), c.world_to_cam, 100, 80, f"r_{i}") for i, c in enumerate(capture_cameras())]
    frames = frames_for(truth)
    for f in frames:  # NeRF-synthetic: no extension, no w/h, image size from the PNG header
        f["file_path"] = "./train/" + Path(f["file_path"]).name
    (tmp_path / "train").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 100, 80) + b"\x08\x02\x00\x00\x00"
    for c in truth:
        (tmp_path / "train" / f"{c.name}.png").write_bytes(png)
    meta = {"camera_angle_x": 2 * math.atan(50 / 400.0), "frames": frames}
    read = read_transforms_json(write_json(tmp_path / "transforms_train.json", meta))
    assert_same_pixels(read, truth, tol=1e-9)
    assert read[0].image_path.endswith("r_0.png")


def colmap_to_nerfstudio_json(cams: list[Camera]) -> dict:
    """What nerfstudio's ns-process-data (colmap_utils.colmap_to_json) writes, step by step."""
    frames = []
    for c in cams:
        c2w = np.linalg.inv(c.world_to_cam)
        c2w[0:3, 1:3] *= -1
        c2w = c2w[np.array([1, 0, 2, 3]), :]
        c2w[2, :] *= -1
        frames.append({"file_path": f"images/{c.name}", "transform_matrix": c2w.tolist()})
    applied = np.eye(4)[:3, :]
    applied = applied[np.array([1, 0, 2]), :]
    applied[2, :] *= -1
    meta = nerfstudio_intrinsics(cams, per_frame=True, frames=frames)
    return {**meta, "frames": frames, "applied_transform": applied.tolist()}


def test_original_world_undoes_nerfstudio_applied_transform(tmp_path):
    truth = capture_cameras()  # the COLMAP model's cameras
    path = write_json(tmp_path / "transforms.json", colmap_to_nerfstudio_json(truth))
    assert_same_pixels(read_transforms_json(path, world="original"), truth)
    # In the file's own world the same points no longer line up (the world axes were swapped) ...
    with pytest.raises(AssertionError):
        assert_same_pixels(read_transforms_json(path, world="file"), truth)
    # ... but points moved by the applied transform do.
    A = np.array(json.loads(path.read_text())["applied_transform"])
    assert_same_pixels(read_transforms_json(path, world="file"), truth, points_read=POINTS @ A[:, :3].T + A[:, 3])


def test_nerfstudio_world_follows_dataparser_transforms(tmp_path):
    truth = capture_cameras()
    path = write_json(tmp_path / "transforms.json", colmap_to_nerfstudio_json(truth))
    R = look_at((0.3, -1, 0.5), (0, 0, 0))[:3, :3]  # some rotation
    T = np.hstack([R, [[0.2], [-0.1], [0.4]]])
    dp = write_json(tmp_path / "dataparser_transforms.json", {"transform": T.tolist(), "scale": 0.37})
    read = read_transforms_json(path, world="nerfstudio", dataparser_transforms=dp)
    # nerfstudio moves the COLMAP-world points by scale * (transform @ p): the splat lives there.
    splat_points = 0.37 * (POINTS @ R.T + T[:, 3])
    assert_same_pixels(read, truth, points_read=splat_points)
    with pytest.raises(InputError, match="dataparser_transforms.json"):
        read_transforms_json(path, world="nerfstudio")


def test_ngp_world_is_instant_ngp_nerf_matrix_to_ngp(tmp_path):
    truth = capture_cameras()
    for c in truth:  # one shared camera, intrinsics at top level
        c.K = truth[0].K.copy()
    frames = frames_for(truth)
    meta = nerfstudio_intrinsics(truth, per_frame=False, frames=frames)
    path = write_json(tmp_path / "transforms.json", {**meta, "frames": frames, "scale": 0.5, "offset": [0.5, 0.2, 0.1]})
    read = read_transforms_json(path, world="ngp")
    for cam, frame in zip(read, sorted(frames, key=lambda f: f["file_path"])):
        # instant-ngp's nerf_matrix_to_ngp, literally: flip columns 1, 2; col3 * scale + offset; rows yzx.
        m = np.array(frame["transform_matrix"])[:3, :]
        m[:, 1] *= -1
        m[:, 2] *= -1
        m[:, 3] = m[:, 3] * 0.5 + np.array([0.5, 0.2, 0.1])
        m = m[[1, 2, 0], :]
        assert np.allclose(cam.cam_to_world[:3, :], m, atol=1e-12)
    ngp_points = (0.5 * POINTS + [0.5, 0.2, 0.1])[:, [1, 2, 0]]
    assert_same_pixels(read, truth, points_read=ngp_points)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"frames": []}, "no 'frames'"),
        ({"frames": [{"file_path": "a.png", "transform_matrix": [[1, 0]]}], "fl_x": 1, "w": 2, "h": 2}, "transform_matrix"),
        ({"frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}], "w": 4, "h": 4}, "no focal length"),
        ({"frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}], "fl_x": 3}, "no image size"),
        (
            {"frames": [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}], "fl_x": 3, "w": 4, "h": 4, "camera_model": "OPENCV_FISHEYE"},
            "not supported",
        ),
    ],
)
def test_transforms_json_errors_are_clear(tmp_path, data, words):
    with pytest.raises(InputError, match=words):
        read_transforms_json(write_json(tmp_path / "transforms.json", data))


def test_colmap_and_transforms_json_of_one_capture_agree(tmp_path):
    truth = capture_cameras()
    write_colmap_binary(tmp_path / "sparse" / "0", truth)
    path = write_json(tmp_path / "transforms.json", colmap_to_nerfstudio_json(truth))
    a = read_colmap_model(tmp_path / "sparse" / "0")
    b = read_transforms_json(path, world="original")
    for ca, cb in zip(a, b):
        assert ca.name == cb.name and np.allclose(ca.world_to_cam, cb.world_to_cam, atol=1e-9)
