"""File > Import / Export operators for Gaussian splats, through bpy.ops as a user triggers them."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import assert_same_scene, random_scene
from gs_enhancer_addon.core.gaussians import GaussianScene

bpy = pytest.importorskip("bpy")

from gs_enhancer_addon.blender import io_operators, scene_io  # noqa: E402  (needs bpy)
from gs_enhancer_addon.core.io import read_scene
from gs_enhancer_addon.core.io.ply import write_ply


def test_import_then_export_through_the_operators(addon_registered, tmp_path):
    scene = random_scene()
    write_ply(scene, tmp_path / "cap.ply")
    assert bpy.ops.gse.import_splat(filepath=str(tmp_path / "cap.ply"), y_down_to_z_up=True) == {"FINISHED"}
    obj = bpy.context.active_object
    assert scene_io.is_splat_object(obj) and obj.rotation_euler[0] != 0
    assert bpy.ops.gse.export_splat(filepath=str(tmp_path / "out")) == {"FINISHED"}  # extension added
    back = read_scene(tmp_path / "out.ply")
    assert_same_scene(scene, back)
    assert bpy.ops.gse.export_splat(filepath=str(tmp_path / "web.ply"), file_format="SPLAT",
                                    apply_transform=True) == {"FINISHED"}
    web = read_scene(tmp_path / "web.splat")
    assert len(web) == len(scene) and np.allclose(web.means[:, 2], -scene.means[:, 1], atol=1e-5)


def test_import_errors_are_reported_and_leave_nothing_behind(addon_registered, tmp_path):
    good = tmp_path / "good.ply"
    write_ply(random_scene(n=5), good)
    bad = tmp_path / "bad.ply"
    bad.write_bytes(good.read_bytes()[:-7])
    with pytest.raises(RuntimeError, match="bad.ply: the file is truncated"):
        bpy.ops.gse.import_splat(directory=str(tmp_path), files=[{"name": "good.ply"}, {"name": "bad.ply"}])
    assert len(bpy.data.objects) == 0  # the good file's object is removed too: all or nothing
    assert bpy.ops.gse.import_splat(directory=str(tmp_path), files=[{"name": "good.ply"}]) == {"FINISHED"}
    assert len(bpy.data.objects) == 1


def test_invalid_splats_can_be_dropped_on_import(addon_registered, tmp_path):
    scene = random_scene(n=6)
    scene.opacity_logits[4] = np.nan
    write_ply(scene, tmp_path / "nan.ply")
    with pytest.raises(RuntimeError, match="1 of 6 splats contain NaN"):
        bpy.ops.gse.import_splat(filepath=str(tmp_path / "nan.ply"))
    assert bpy.ops.gse.import_splat(filepath=str(tmp_path / "nan.ply"), drop_invalid=True) == {"FINISHED"}
    assert len(bpy.context.active_object.data.attributes["position"].data) == 5


def test_export_needs_a_splat_object_and_reports_bad_transforms(addon_registered, tmp_path):
    assert not bpy.ops.gse.export_splat.poll()
    write_ply(random_scene(n=4), tmp_path / "s.ply")
    bpy.ops.gse.import_splat(filepath=str(tmp_path / "s.ply"))
    assert bpy.ops.gse.export_splat.poll()
    bpy.context.active_object.scale = (1.0, 2.0, 1.0)
    bpy.context.view_layer.update()
    with pytest.raises(RuntimeError, match="non-uniform scale"):
        bpy.ops.gse.export_splat(filepath=str(tmp_path / "o.ply"), apply_transform=True)
    assert not (tmp_path / "o.ply").exists()


def test_menu_entries_and_extension_handling(addon_registered):
    assert io_operators.menu_import in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()
    assert io_operators.menu_export in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize()
    assert io_operators.with_extension("/a/b.ply", "SPLAT") == "/a/b.splat"
    assert io_operators.with_extension("/a/b.splat", "PLY") == "/a/b.ply"
    assert io_operators.with_extension("/a/b.v2", "PLY") == "/a/b.v2.ply"


FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "splats"


@pytest.mark.parametrize("name", ["st_minimal-raw.spz", "st_minimal-v2.spz", "st_minimal-v3.spz", "st_minimal-v4.spz",
                                  "st_minimal.ksplat", "SanitySplats.spz"])
def test_import_every_fixture_format(addon_registered, name):
    assert bpy.ops.gse.import_splat(filepath=str(FIXTURES / name)) == {"FINISHED"}
    obj = bpy.context.active_object
    expected = read_scene(FIXTURES / name)
    assert scene_io.is_splat_object(obj) and obj.name == name.rsplit(".", 1)[0]
    assert_same_scene(expected, scene_io.scene_from_object(obj))


def test_import_sog_folder_and_zip(addon_registered, tmp_path):
    pytest.importorskip("PIL.WebPImagePlugin")
    from tests.core.splat_encoders import write_sog_folder, write_sog_zip

    scene = random_scene(n=9, degree=1)
    write_sog_folder(tmp_path / "garden", scene)
    write_sog_zip(tmp_path / "garden.sog", scene)
    assert bpy.ops.gse.import_splat(filepath=str(tmp_path / "garden" / "meta.json")) == {"FINISHED"}
    assert bpy.context.active_object.name == "garden"
    assert bpy.ops.gse.import_splat(filepath=str(tmp_path / "garden.sog")) == {"FINISHED"}
    from_zip = scene_io.scene_from_object(bpy.context.active_object)
    assert_same_scene(read_scene(tmp_path / "garden"), from_zip)


def test_export_spz_round_trips(addon_registered, tmp_path):
    scene = random_scene(n=30, degree=2)
    scene.sh[:, 1:] *= 0.2
    write_ply(scene, tmp_path / "cap.ply")
    bpy.ops.gse.import_splat(filepath=str(tmp_path / "cap.ply"))
    assert bpy.ops.gse.export_splat(filepath=str(tmp_path / "cap.ply"), file_format="SPZ") == {"FINISHED"}
    back = read_scene(tmp_path / "cap.spz")
    assert back.sh_degree == 2 and np.allclose(back.means, scene.means, atol=2 ** -12)
    assert io_operators.with_extension("/a/b.ply", "SPZ") == "/a/b.spz"


def test_drop_handler_covers_every_read_format():
    from gs_enhancer_addon.core.io import READ_EXTENSIONS

    assert set(io_operators.GSE_FH_splat.bl_file_extensions.split(";")) == set(READ_EXTENSIONS)
