"""Camera path in Blender: sidebar settings -> snapshot (the job's input), path preview, camera list,
capture import operators. Real bpy, add-on registered from the checkout; torch-free."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import project_points
from gs_enhancer_addon.core.errors import InputError
from tests.blender.layout_recorder import LayoutRecorder
from tests.core.test_capture import POINTS, capture_cameras, colmap_to_nerfstudio_json, write_colmap_binary, write_json

bpy = pytest.importorskip("bpy")
from mathutils import Matrix  # noqa: E402

from gs_enhancer_addon.blender import camera_operators  # noqa: E402
from gs_enhancer_addon.blender.camera_io import camera_from_blender, cameras_to_collection, snapshot_camera_path  # noqa: E402
from gs_enhancer_addon.blender.path_preview import PREVIEW_PROP, update_path_preview  # noqa: E402


def add_camera(name, location, collection):
    obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    obj.location = location
    obj.rotation_euler = (math.radians(80), 0, math.atan2(location[0], -location[1]))
    collection.objects.link(obj)
    return obj


def circle_collection(scene, names, radius=5.0):
    coll = bpy.data.collections.new("Refs")
    scene.collection.children.link(coll)
    for i, name in enumerate(names):
        a = 2 * math.pi * i / len(names)
        add_camera(name, (radius * math.sin(a), -radius * math.cos(a), 1.0), coll)
    bpy.context.view_layer.update()
    return coll


def small_render(scene):
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100


def test_collection_path_in_natural_name_order(addon_registered):
    scene = bpy.context.scene
    small_render(scene)
    coll = circle_collection(scene, ["Cam.1", "Cam.2", "Cam.10"])
    coll.objects.link(bpy.data.objects.new("not a camera", None))
    settings = scene.gs_enhancer
    settings.camera_collection, settings.views_per_segment = coll, 4
    refs, traj = snapshot_camera_path(bpy.context, settings)
    assert [r.name for r in refs] == ["Cam.1", "Cam.2", "Cam.10"]
    assert len(traj.cameras) == 2 * 5 + 1 and [len(w.indices) for w in traj.windows] == [6, 6]
    for ref, i in zip(refs, traj.reference_indices):
        assert np.array_equal(traj.cameras[i].world_to_cam, ref.world_to_cam)
        assert np.allclose(ref.world_to_cam, camera_from_blender(scene.objects[ref.name], scene).world_to_cam)
    settings.closed_loop = True
    _, loop = snapshot_camera_path(scene)
    assert len(loop.cameras) == 3 * 5 and loop.windows[-1].indices[-1] == 0


def test_path_errors_reach_the_user_as_input_errors(addon_registered):
    scene = bpy.context.scene
    settings = scene.gs_enhancer
    with pytest.raises(InputError, match="Choose a collection"):
        snapshot_camera_path(scene)
    settings.camera_collection = circle_collection(scene, ["Only"])
    with pytest.raises(InputError, match="at least two reference cameras"):
        snapshot_camera_path(scene)
    settings.path_mode = "ANIMATED"
    with pytest.raises(InputError, match="animated camera"):
        snapshot_camera_path(scene)
    with pytest.raises(RuntimeError, match="Choose the animated camera"):  # bpy raises the operator's ERROR report
        bpy.ops.gse.update_path_preview()
    assert not any(o.get(PREVIEW_PROP) for o in scene.objects)


def test_camera_list_add_move_remove_sets_path_order(addon_registered):
    scene = bpy.context.scene
    small_render(scene)
    coll = circle_collection(scene, ["A", "B", "C", "D"])
    settings = scene.gs_enhancer
    settings.path_mode, settings.views_per_segment = "LIST", 2
    for name in ("C", "A", "B"):
        scene.objects[name].select_set(True)
    assert bpy.ops.gse.path_camera_add() == {"FINISHED"}
    assert [i.camera.name for i in settings.path_cameras] == ["A", "B", "C"]
    assert bpy.ops.gse.path_camera_add() == {"CANCELLED"}  # all selected ones are listed already
    settings.path_cameras_index = 2
    bpy.ops.gse.path_camera_move(direction="UP")  # A C B
    bpy.ops.gse.path_camera_move(direction="UP")  # C A B
    assert settings.path_cameras_index == 0
    assert bpy.ops.gse.path_camera_move(direction="UP") == {"CANCELLED"}
    scene.objects["D"].select_set(True)
    bpy.ops.gse.path_camera_add()  # C A B D
    settings.path_cameras_index = 2
    bpy.ops.gse.path_camera_remove()  # C A D
    refs, traj = snapshot_camera_path(scene)
    assert [r.name for r in refs] == ["C", "A", "D"] and len(traj.cameras) == 7
    assert coll.name == "Refs"


def test_animated_camera_path(addon_registered):
    scene = bpy.context.scene
    small_render(scene)
    obj = add_camera("Orbit", (0, -5, 1), scene.collection)
    for frame in range(1, 22, 5):
        a = frame / 20 * math.pi
        obj.location = (5 * math.sin(a), -5 * math.cos(a), 1)
        obj.keyframe_insert("location", frame=frame)
    settings = scene.gs_enhancer
    settings.path_mode, settings.animated_camera = "ANIMATED", obj
    settings.frame_start, settings.frame_end, settings.frame_stride, settings.views_per_segment = 1, 21, 2, 4
    refs, traj = snapshot_camera_path(scene)
    assert len(traj.cameras) == 11 and traj.reference_indices == [0, 5, 10]
    assert [r.name for r in refs] == ["Orbit@1", "Orbit@11", "Orbit@21"]
    assert np.allclose(refs[2].center, [5 * math.sin(21 / 20 * math.pi), -5 * math.cos(21 / 20 * math.pi), 1], atol=1e-5)


def test_preview_object_shows_the_trajectory_and_updates_in_place(addon_registered):
    scene = bpy.context.scene
    small_render(scene)
    coll = circle_collection(scene, ["P1", "P2", "P3"])
    settings = scene.gs_enhancer
    settings.camera_collection, settings.views_per_segment = coll, 3
    assert bpy.ops.gse.update_path_preview() == {"FINISHED"}
    obj = scene.objects["Refs Path Preview"]
    mesh = obj.data
    _, traj = snapshot_camera_path(scene)
    n = len(traj.cameras)
    co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    assert len(co) == 2 * n and len(mesh.edges) == (n - 1) + n
    assert np.allclose(co[:n], [c.center for c in traj.cameras], atol=1e-5)
    ticks = co[n:] - co[:n]
    forward = np.stack([c.cam_to_world[:3, 2] for c in traj.cameras])
    assert np.all(np.einsum("ij,ij->i", ticks, forward) > 0)  # ticks point where each view looks
    conf = np.empty(len(mesh.vertices), dtype=np.float32)
    mesh.attributes["gse_confidence"].data.foreach_get("value", conf)
    assert np.allclose(conf[:n], traj.confidence, atol=1e-6)
    assert obj.hide_render
    # The user hides it, moves a camera and updates: same object, new path, still hidden, old mesh gone.
    obj.hide_set(True)
    old_name = mesh.name
    scene.objects["P2"].location.z += 2.0
    settings.closed_loop = True
    obj2, traj2 = update_path_preview(scene)
    assert obj2 == obj and obj.hide_get() and old_name not in bpy.data.meshes
    assert len(obj.data.edges) == len(traj2.cameras) * 2  # closed: n path edges + n ticks
    assert sum(1 for o in scene.objects if o.get(PREVIEW_PROP)) == 1


def shared_aspect_cameras():
    """The synthetic capture with one fy/fx ratio (Blender keeps one pixel aspect per scene)."""
    truth = capture_cameras()
    for c in truth:
        c.K[1, 1] = c.K[0, 0] * 1.03
    return truth


def test_import_operators_pose_cameras_against_the_capture(addon_registered, tmp_path):
    truth = shared_aspect_cameras()
    write_colmap_binary(tmp_path / "sparse" / "0", truth)
    write_json(tmp_path / "transforms.json", colmap_to_nerfstudio_json(truth))
    scene = bpy.context.scene
    assert bpy.ops.gse.import_colmap_cameras(filepath=str(tmp_path / "sparse" / "0" / "cameras.bin")) == {"FINISHED"}
    assert bpy.ops.gse.import_transforms_cameras(filepath=str(tmp_path / "transforms.json"), world="original") == {"FINISHED"}
    assert (scene.render.resolution_x, scene.render.resolution_y) == (320, 240)
    for coll_name in ("COLMAP Cameras", "transforms Cameras"):
        objs = sorted(bpy.data.collections[coll_name].objects, key=lambda o: o.name)
        assert [o.name.split(".")[0] for o in objs] == [c.name.split(".")[0] for c in truth]
        for obj, cam in zip(objs, truth):
            got = camera_from_blender(obj, scene)
            uv, _ = project_points(got, POINTS)
            uv_true, _ = project_points(cam, POINTS)
            assert np.abs(uv - uv_true).max() < 2e-3  # Blender stores lens, shift and pose in float32
    with pytest.raises(RuntimeError, match="not a COLMAP sparse model"):
        bpy.ops.gse.import_colmap_cameras(filepath=str(tmp_path / "nowhere" / "cameras.bin"))


def test_cameras_follow_the_splat_object_transform(addon_registered):
    truth = shared_aspect_cameras()
    splat_matrix = Matrix.Translation((1, -2, 0.5)) @ Matrix.Rotation(-math.pi / 2, 4, "X") @ Matrix.Scale(2.0, 4)
    coll, warnings = cameras_to_collection(bpy.context, truth, "Aligned", parent_matrix=splat_matrix)
    assert warnings == []
    M = np.array(splat_matrix)
    world_points = POINTS @ M[:3, :3].T + M[:3, 3]  # the splat's points as Blender shows them
    scene = bpy.context.scene
    for obj, cam in zip(sorted(coll.objects, key=lambda o: o.name), truth):
        assert np.allclose(obj.matrix_world.to_scale(), (1, 1, 1), atol=1e-6)
        uv, _ = project_points(camera_from_blender(obj, scene), world_points)
        assert np.abs(uv - project_points(cam, POINTS)[0]).max() < 2e-3


def test_cameras_blender_cannot_reproduce_are_named(addon_registered):
    truth = capture_cameras()  # fy/fx differs per camera
    truth[3].width = 640
    _coll, warnings = cameras_to_collection(bpy.context, truth, "Mixed")
    assert len(warnings) == 2
    assert "1 cameras (e.g. 'img_003.png') have another image size" in warnings[0]
    assert "4 cameras (e.g. 'img_001.png') have another fy/fx ratio" in warnings[1]


def test_menus_and_panel_part_are_wired(addon_registered):
    draw_funcs = bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()
    assert camera_operators._menu_import in draw_funcs

    settings = bpy.context.scene.gs_enhancer
    for mode in ("COLLECTION", "LIST", "ANIMATED"):
        settings.path_mode = mode
        layout = LayoutRecorder()
        camera_operators.draw_camera_path(layout, settings)
        assert layout.all_valid(), layout.log
        assert ("op", "gse.update_path_preview", True) in layout.log
