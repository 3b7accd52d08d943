"""blender/camera_io.py against Blender itself (torch-free: runs on the bpy 4.2 leg too).

Reference: `bpy_extras.object_utils.world_to_camera_view`, Blender's own projection through the
camera's view frame (sensor fit, sensor size, shift, pixel aspect), computed in float32.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import Camera, look_at, project_points
from gs_enhancer_addon.core.errors import InputError

bpy = pytest.importorskip("bpy")
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Euler, Vector  # noqa: E402

from gs_enhancer_addon.blender.camera_io import (  # noqa: E402
    IMAGE_PATH_PROP,
    camera_from_blender,
    camera_to_blender,
    cameras_from_animation,
    render_size,
)


def new_camera(scene, name="Cam"):
    data = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    return obj


def randomize(rng, scene, obj) -> None:
    """Random lens, sensor, fit, shift, resolution, percentage, pixel aspect, pose and object scale."""
    data, r = obj.data, scene.render
    data.lens = rng.uniform(10, 150)
    data.lens_unit = str(rng.choice(["MILLIMETERS", "FOV"]))
    data.sensor_width, data.sensor_height = rng.uniform(8, 50, 2)
    data.sensor_fit = str(rng.choice(["AUTO", "HORIZONTAL", "VERTICAL"]))
    data.shift_x, data.shift_y = rng.uniform(-0.6, 0.6, 2)
    # Sizes divisible by 4 so every percentage gives an exact size: world_to_camera_view takes the
    # aspect ratio from the full resolution, the renderer from the integer size after percentage.
    r.resolution_x, r.resolution_y = (4 * int(v) for v in rng.integers(8, 500, 2))
    r.resolution_percentage = int(rng.choice([25, 50, 100, 200]))
    aspect = rng.uniform(1, 3)
    r.pixel_aspect_x, r.pixel_aspect_y = (aspect, 1.0) if rng.random() < 0.5 else (1.0, aspect)
    obj.location = rng.uniform(-2, 2, 3)
    obj.rotation_euler = Euler(rng.uniform(-math.pi, math.pi, 3))
    obj.scale = rng.uniform(0.3, 3, 3)  # must be ignored
    bpy.context.view_layer.update()


def points_in_view(rng, camera: Camera, n: int) -> np.ndarray:
    """World points [n, 3] that land inside the image at depths 1..10."""
    pix = np.stack([rng.uniform(0, camera.width, n), rng.uniform(0, camera.height, n), np.ones(n)], axis=1)
    cam_pts = (pix @ np.linalg.inv(camera.K).T) * rng.uniform(1, 10, n)[:, None]
    c2w = camera.cam_to_world
    return cam_pts @ c2w[:3, :3].T + c2w[:3, 3]


def test_projection_matches_world_to_camera_view_for_random_cameras(bpy_empty):
    scene = bpy_empty.context.scene
    obj = new_camera(scene)
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(60):
        randomize(rng, scene, obj)
        camera = camera_from_blender(obj, scene)
        assert (camera.width, camera.height) == render_size(scene)
        pts = points_in_view(rng, camera, 20)
        uv, depth = project_points(camera, pts)
        ref = np.array([tuple(world_to_camera_view(scene, obj, Vector(p))) for p in pts])
        ref_uv = np.stack([ref[:, 0] * camera.width, (1.0 - ref[:, 1]) * camera.height], axis=1)
        assert np.allclose(depth, ref[:, 2], rtol=1e-5)
        worst = max(worst, float(np.abs(uv - ref_uv).max()))
    assert worst < 0.008, worst  # pixels; Blender's side is float32


def test_pose_ignores_scale_and_uses_opencv_axes(bpy_empty):
    scene = bpy_empty.context.scene
    obj = new_camera(scene)
    obj.location = (1, 2, 3)
    obj.rotation_euler = (math.pi / 2, 0, 0)  # looks along +Y, up is +Z
    obj.scale = (2, 5, 0.5)
    bpy_empty.context.view_layer.update()
    camera = camera_from_blender(obj, scene)
    R = camera.cam_to_world[:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.allclose(camera.center, [1, 2, 3], atol=1e-6)
    assert np.allclose(R[:, 2], [0, 1, 0], atol=1e-6)  # OpenCV +z: the view direction
    assert np.allclose(R[:, 1], [0, 0, -1], atol=1e-6)  # OpenCV +y: image down = world down
    assert camera.metadata["blender_object"] == "Cam"


@pytest.mark.parametrize("kind, word", [("ORTHO", "orthographic"), ("PANO", "panoramic")])
def test_non_perspective_cameras_are_refused(bpy_empty, kind, word):
    obj = new_camera(bpy_empty.context.scene)
    obj.data.type = kind
    with pytest.raises(InputError, match=f"is {word}.*Perspective"):
        camera_from_blender(obj, bpy_empty.context.scene)


def test_camera_to_blender_round_trip(bpy_empty):
    scene = bpy_empty.context.scene
    rng = np.random.default_rng(5)
    for i in range(10):
        fx = rng.uniform(100, 900)
        K = np.array([[fx, 0, rng.uniform(100, 200)], [0, fx * rng.uniform(0.5, 2), rng.uniform(50, 150)], [0, 0, 1]])
        w2c = look_at(rng.uniform(-5, 5, 3), rng.uniform(-1, 1, 3))
        original = Camera(K, w2c, 320, 200, f"rt{i}", image_path=f"/photos/{i}.jpg")
        obj = camera_to_blender(original, scene, set_render=True)
        bpy_empty.context.view_layer.update()
        back = camera_from_blender(obj, scene)
        assert (back.width, back.height) == (320, 200) and back.name == f"rt{i}"
        assert np.allclose(back.K, K, rtol=1e-5, atol=1e-4)
        assert np.allclose(back.world_to_cam, w2c, atol=1e-5)
        assert back.image_path == original.image_path and obj[IMAGE_PATH_PROP] == f"/photos/{i}.jpg"


def test_reference_image_from_background_image(bpy_empty, tmp_path):
    scene = bpy_empty.context.scene
    obj = new_camera(scene)
    assert camera_from_blender(obj, scene).image_path is None
    photo = tmp_path / "view.png"
    image = bpy.data.images.new("view", 4, 4)
    image.filepath_raw = str(photo)
    image.file_format = "PNG"
    image.save()
    bg = obj.data.background_images.new()
    bg.image = bpy.data.images.load(str(photo))
    assert camera_from_blender(obj, scene).image_path == str(photo)
    obj.data[IMAGE_PATH_PROP] = str(tmp_path / "other.jpg")  # the explicit property wins
    assert camera_from_blender(obj, scene).image_path == str(tmp_path / "other.jpg")


def test_animated_camera_sampled_per_frame(bpy_empty):
    scene = bpy_empty.context.scene
    obj = new_camera(scene, "Anim")
    for frame, x in ((1, 0.0), (11, 10.0)):
        obj.location = (x, -5, 1)
        obj.keyframe_insert("location", frame=frame)
    obj.data.lens = 30
    obj.data.keyframe_insert("lens", frame=1)
    obj.data.lens = 60
    obj.data.keyframe_insert("lens", frame=11)
    scene.frame_set(7)
    cams = cameras_from_animation(obj, scene, 1, 11, 5)
    assert [c.name for c in cams] == ["Anim@1", "Anim@6", "Anim@11"]
    assert np.allclose([c.center[0] for c in cams][::2], [0, 10], atol=1e-5)
    assert 0 < cams[1].center[0] < 10
    assert cams[2].K[0, 0] == pytest.approx(2 * cams[0].K[0, 0], rel=1e-5)  # lens animation followed
    assert scene.frame_current == 7  # restored
    with pytest.raises(InputError, match="frame range is empty"):
        cameras_from_animation(obj, scene, 5, 1, 1)
