"""Blender objects <-> GaussianScene on the real bpy (5.0: POINTCLOUD; 4.2: mesh + Mesh to Points).

No torch here: this file also runs in the bpy 4.2.23 leg.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import InputError
from tests.builders import assert_same_scene, random_scene
from gs_enhancer_addon.core.gaussians import FIELDS, GaussianScene

bpy = pytest.importorskip("bpy")

from gs_enhancer_addon.blender import scene_io  # noqa: E402  (needs bpy)
from gs_enhancer_addon.core.io import write_scene
from gs_enhancer_addon.core.io.ply import read_ply, write_ply


def float_attribute(obj, name: str) -> np.ndarray:
    attribute = obj.data.attributes[name]
    values = np.empty(len(attribute.data), dtype=np.float32)
    attribute.data.foreach_get("value", values)
    return values


@pytest.mark.parametrize("degree", [0, 3])
def test_ply_object_ply_round_trip_is_bit_exact(bpy_empty, tmp_path, degree):
    scene = random_scene(degree=degree)
    write_ply(scene, tmp_path / "in.ply")
    obj = scene_io.import_splat_file(bpy.context, str(tmp_path / "in.ply"))
    assert obj.name.lower() == "in"  # named after the file
    assert scene_io.is_splat_object(obj)
    back = scene_io.scene_from_object(obj)
    assert_same_scene(back, scene)
    scene_io.export_splat_file(obj, str(tmp_path / "out.ply"))
    assert_same_scene(read_ply(tmp_path / "out.ply"), scene)
    assert (tmp_path / "out.ply").read_bytes() == (tmp_path / "in.ply").read_bytes()


def test_object_kind_follows_the_blender_version(bpy_empty):
    obj = scene_io.object_from_scene(bpy.context, random_scene(n=10), "Splat")
    if bpy.app.version >= (5, 0, 0):
        assert obj.type == "POINTCLOUD"
        assert len(obj.data.attributes["position"].data) == 10
        assert not bpy.data.meshes  # the intermediate mesh is not left behind
    else:
        assert obj.type == "MESH" and len(obj.data.vertices) == 10
    assert [m.name for m in obj.modifiers] == ["Gaussian Display"]  # the only display (display.py)
    assert bpy.context.view_layer.objects.active == obj and obj.select_get()


def test_attributes_are_named_like_blenders_own_ply_importer(bpy_empty, tmp_path):
    scene = random_scene(degree=1)
    write_ply(scene, tmp_path / "s.ply")
    ours = scene_io.import_splat_file(bpy.context, str(tmp_path / "s.ply"))
    bpy.ops.wm.ply_import(filepath=str(tmp_path / "s.ply"))
    native = bpy.context.selected_objects[0]
    assert native != ours

    def float_points(obj):
        return {a.name for a in obj.data.attributes if a.data_type == "FLOAT" and a.domain == "POINT"}

    assert float_points(native) <= float_points(ours)
    assert {"f_dc_0", "f_rest_8", "opacity", "scale_2", "rot_3"} <= float_points(native)
    assert np.array_equal(float_attribute(ours, "f_rest_5"), float_attribute(native, "f_rest_5"))
    # objects made by Blender's importer read back exactly like ours
    assert_same_scene(scene_io.scene_from_object(native), scene)


def test_y_down_to_z_up_is_an_object_rotation_never_baked(bpy_empty):
    scene = random_scene(n=30)
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat", y_down_to_z_up=True)
    assert np.allclose(obj.rotation_euler[:], (-math.pi / 2, 0, 0))
    assert_same_scene(scene_io.scene_from_object(obj), scene)  # local data untouched
    world = scene_io.scene_from_object(obj, world=True)
    down = np.array([0.0, 1.0, 0.0])  # +Y in the capture points down...
    assert np.allclose(np.array(obj.matrix_world)[:3, :3] @ down, [0, 0, -1], atol=1e-6)  # ...and becomes -Z
    assert np.allclose(world.means, scene.means @ np.array(obj.matrix_world)[:3, :3].T, atol=1e-5)


def test_world_transform_with_uniform_scale_and_refusal_of_non_uniform(bpy_empty):
    scene = random_scene(n=16)
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat")
    obj.location = (1.0, 2.0, 3.0)
    obj.scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    world = scene_io.scene_from_object(obj, world=True)
    assert np.allclose(world.means, scene.means * 2 + [1, 2, 3], atol=1e-5)
    assert np.allclose(world.log_scales, scene.log_scales + np.log(2), atol=1e-5)
    obj.scale = (1.0, 3.0, 1.0)
    bpy.context.view_layer.update()
    with pytest.raises(InputError, match="non-uniform scale"):
        scene_io.scene_from_object(obj, world=True)
    assert_same_scene(scene_io.scene_from_object(obj), scene)  # local read still works


def test_objects_without_splat_attributes_are_refused_by_name(bpy_empty):
    mesh = bpy.data.meshes.new("Plain")
    mesh.vertices.add(3)
    obj = bpy.data.objects.new("Plain", mesh)
    assert not scene_io.is_splat_object(obj)
    with pytest.raises(InputError, match="'Plain' is not a Gaussian splat object.*f_dc_0"):
        scene_io.scene_from_object(obj)
    camera = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    with pytest.raises(InputError, match="camera object"):
        scene_io.scene_from_object(camera)


def test_splat_and_compressed_files_import_through_the_same_entry(bpy_empty, tmp_path):
    scene = random_scene(n=12, degree=0)
    write_scene(scene, tmp_path / "web.splat")
    obj = scene_io.import_splat_file(bpy.context, str(tmp_path / "web.splat"))
    assert scene_io.is_splat_object(obj)
    assert np.array_equal(scene_io.scene_from_object(obj).means, scene.means)


def test_an_antialiased_splat_stays_antialiased_through_blender(bpy_empty, tmp_path):
    """An SPZ file's antialiased flag (Mip-Splatting) survives import, the object, and export."""
    import dataclasses

    write_scene(dataclasses.replace(random_scene(degree=1), antialiased=True), tmp_path / "aa.spz")
    obj = scene_io.import_splat_file(bpy.context, str(tmp_path / "aa.spz"))
    assert obj[scene_io.ANTIALIASED_PROPERTY] is True
    assert scene_io.scene_from_object(obj).antialiased
    write_ply(random_scene(), tmp_path / "plain.ply")
    plain = scene_io.import_splat_file(bpy.context, str(tmp_path / "plain.ply"))
    assert scene_io.ANTIALIASED_PROPERTY not in plain and not scene_io.scene_from_object(plain).antialiased
