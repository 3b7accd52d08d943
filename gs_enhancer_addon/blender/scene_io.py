"""Blender objects <-> GaussianScene (point clouds and meshes carrying 3DGS attributes).

Per-point attributes are named as Blender's own PLY importer names them for an INRIA 3DGS .ply
(f_dc_0..2, f_rest_*, opacity, scale_0..2, rot_0..3; FLOAT on the POINT domain), so objects made
by `wm.ply_import` and by us are interchangeable, and tools expecting those names work on ours.
On Blender 5.0+ the object is a POINTCLOUD (a mesh converted by `object.convert`); on 4.2-4.5,
where that conversion does not exist, a vertex-only mesh. Either way its only display is the
Gaussian display modifier of display.py; the data holds the 3DGS attributes and nothing else.
Point data crosses the Python boundary only through foreach_set / foreach_get on contiguous
float32 arrays.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import bpy
import numpy as np

from ..core.errors import InputError
from ..core.gaussians import GaussianScene, NonFinitePolicy, sh_coefficient_count
from ..core.io import detect_format, read_scene, write_scene
from ..core.io.ply import read_ply_rows, scene_rows
from ..core.io.sh_layout import f_rest_names, rest_degree
from .display import add_display, prepare_scene_for_splats

# Attribute names as Blender's own PLY importer creates them for an INRIA 3DGS .ply.
REQUIRED_ATTRIBUTES = ("f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                       "rot_0", "rot_1", "rot_2", "rot_3")
Y_DOWN_TO_Z_UP = (-math.pi / 2.0, 0.0, 0.0)  # rotation_euler: OpenCV/COLMAP y-down z-forward -> Blender Z-up


def is_splat_object(obj: bpy.types.Object | None) -> bool:
    """True for a mesh or point cloud that carries the 3DGS per-point attributes."""
    if obj is None or obj.type not in {"MESH", "POINTCLOUD"}:
        return False
    names = obj.data.attributes.keys()
    return all(name in names for name in REQUIRED_ATTRIBUTES)


# ------------------------------------------------------------------------------ scene -> object
def mesh_from_rows(names: list[str], table: np.ndarray, name: str) -> bpy.types.Mesh:
    """A vertex-only mesh with every property as a FLOAT POINT attribute.

    `names` / `table` [P, N] as core.io.ply.read_ply_rows returns them: x, y, z first, then the
    3DGS properties, one contiguous float32 row each (what foreach_set copies in one go).
    """
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(table.shape[1])
    mesh.vertices.foreach_set("co", np.ascontiguousarray(table[0:3].T).ravel())
    for attr_name, row in zip(names[3:], table[3:]):
        mesh.attributes.new(attr_name, "FLOAT", "POINT").data.foreach_set("value", row)
    return mesh


def supports_pointcloud_objects() -> bool:
    """Blender 5.0+ converts meshes to POINTCLOUD objects; 4.2-4.5 do not."""
    target = bpy.ops.object.convert.get_rna_type().properties["target"]
    return "POINTCLOUD" in target.enum_items.keys()


def object_from_scene(context: bpy.types.Context, scene: GaussianScene, name: str,
                      y_down_to_z_up: bool = False, as_mesh: bool = False) -> bpy.types.Object:
    """A new splat object in the active collection, selected and active; the scene is unchanged."""
    scene.validate(allow_nonfinite=True)
    if len(scene) == 0:
        raise InputError("There are no splats to import.")
    names, table = scene_rows(scene)
    obj = object_from_rows(context, names, table, name, y_down_to_z_up, as_mesh)
    mark_antialiased(obj, scene.antialiased)
    return obj


# Custom property on objects whose splat was trained with Mip-Splatting's 2D filter (an SPZ file's
# antialiased flag): the job then renders and fine-tunes it that way.
ANTIALIASED_PROPERTY = "gse_antialiased"


def mark_antialiased(obj: bpy.types.Object, antialiased: bool) -> None:
    if antialiased:
        obj[ANTIALIASED_PROPERTY] = True


def object_from_rows(context: bpy.types.Context, names: list[str], table: np.ndarray, name: str,
                     y_down_to_z_up: bool = False, as_mesh: bool = False) -> bpy.types.Object:
    """The object for `names` / `table` [P, N] (see mesh_from_rows), shown as Gaussians (display.py).

    POINTCLOUD on Blender 5.0+, a vertex-only mesh before (or with `as_mesh`, the form KIRI 3DGS
    Render and other INRIA-attribute tools expect). Cycles' transparent bounces are raised so
    the Gaussians composite fully.
    """
    with new_datablocks_removed_on_error():  # nothing half-made is left in the scene
        mesh = mesh_from_rows(names, table, name)
        obj = bpy.data.objects.new(name, mesh)
        context.collection.objects.link(obj)
        if y_down_to_z_up:
            obj.rotation_euler = Y_DOWN_TO_Z_UP
        for other in context.selected_objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        if not as_mesh and supports_pointcloud_objects():
            _convert_to_pointcloud(context, obj)
        add_display(obj)
    prepare_scene_for_splats(context.scene)
    context.view_layer.update()  # matrix_world reflects the rotation right away
    return obj


# The data-block collections an import or a result can add to.
_ROLLBACK_COLLECTIONS = ("objects", "meshes", "pointclouds", "materials", "node_groups", "images", "collections")


@contextmanager
def new_datablocks_removed_on_error():
    """On an exception inside the block, remove every data-block it added (objects first, then
    their data, materials, node groups, images), so a failed import or result leaves nothing behind."""
    before = {kind: set(getattr(bpy.data, kind).keys()) for kind in _ROLLBACK_COLLECTIONS
              if hasattr(bpy.data, kind)}
    try:
        yield
    except BaseException:
        added = {kind: [getattr(bpy.data, kind)[n] for n in getattr(bpy.data, kind).keys() if n not in names]
                 for kind, names in before.items()}
        for obj in added.pop("objects"):
            bpy.data.objects.remove(obj, do_unlink=True)
        for kind, blocks in added.items():
            for block in blocks:
                getattr(bpy.data, kind).remove(block)
        raise


def _convert_to_pointcloud(context: bpy.types.Context, obj: bpy.types.Object) -> None:
    mesh = obj.data
    with context.temp_override(active_object=obj, object=obj, selected_objects=[obj],
                               selected_editable_objects=[obj]):
        bpy.ops.object.convert(target="POINTCLOUD")
    if obj.type != "POINTCLOUD":  # pragma: no cover - a Blender that refuses the conversion
        raise RuntimeError("Blender did not convert the splat mesh to a point cloud.")
    if mesh.users == 0:
        bpy.data.meshes.remove(mesh)


def import_splat_file(context: bpy.types.Context, path: str, y_down_to_z_up: bool = False,
                      nonfinite: NonFinitePolicy = "error") -> bpy.types.Object:
    """Read a splat file (.ply, .splat) into a new object named after the file.

    INRIA .ply files take the fast path: decoded straight into one row per attribute.
    """
    name = bpy.path.display_name_from_filepath(path) or "Splat"
    if detect_format(path) == "ply":
        rows = read_ply_rows(path, nonfinite=nonfinite)
        if rows is not None:
            return object_from_rows(context, *rows, name, y_down_to_z_up=y_down_to_z_up)
    return object_from_scene(context, read_scene(path, nonfinite=nonfinite), name, y_down_to_z_up=y_down_to_z_up)


# ------------------------------------------------------------------------------ object -> scene
def scene_from_object(obj: bpy.types.Object, world: bool = False) -> GaussianScene:
    """The GaussianScene an object carries (ours, or one made by Blender's `wm.ply_import`).

    Object-local coordinates; world=True applies the object's world transform (rotation, uniform
    scale, translation; a non-uniform scale raises InputError).
    """
    if obj is None or obj.type not in {"MESH", "POINTCLOUD"}:
        kind = "nothing" if obj is None else f"a {obj.type.lower()} object"
        raise InputError(f"Pick a Gaussian splat object (a point cloud or mesh with 3DGS attributes); got {kind}.")
    attributes = obj.data.attributes
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in attributes]
    if missing:
        raise InputError(f"'{obj.name}' is not a Gaussian splat object: it lacks the attributes "
                         f"{', '.join(missing)}.")
    n = len(attributes["position"].data)
    degree = _sh_degree_of(obj)
    k = sh_coefficient_count(degree)
    means = np.empty(n * 3, dtype=np.float32)
    attributes["position"].data.foreach_get("vector", means)
    sh = np.empty((3, k, n), dtype=np.float32)
    rest_names = f_rest_names(degree)
    for c in range(3):
        sh[c, 0] = _read_float(obj, f"f_dc_{c}", n)
        for j in range(1, k):
            sh[c, j] = _read_float(obj, rest_names[c][j - 1], n)
    scene = GaussianScene(
        means=means.reshape(n, 3),
        quats=np.stack([_read_float(obj, f"rot_{i}", n) for i in range(4)], axis=1),
        log_scales=np.stack([_read_float(obj, f"scale_{i}", n) for i in range(3)], axis=1),
        opacity_logits=_read_float(obj, "opacity", n),
        sh=np.ascontiguousarray(sh.transpose(2, 1, 0)),
        antialiased=bool(obj.get(ANTIALIASED_PROPERTY, False)),
    )
    if world:
        scene = scene.transformed(np.array(obj.matrix_world, dtype=np.float64))
    return scene


def _sh_degree_of(obj: bpy.types.Object) -> int:
    degree = rest_degree(obj.data.attributes.keys())
    if degree is None:
        rest = sum(1 for name in obj.data.attributes.keys() if name.startswith("f_rest_"))
        raise InputError(f"'{obj.name}' has {rest} f_rest_* attributes; a splat has f_rest_0.. with 0, 9, 24 "
                         "or 45 of them (SH degree 0-3).")
    return degree


def _read_float(obj: bpy.types.Object, name: str, n: int) -> np.ndarray:  # [n] float32
    attribute = obj.data.attributes[name]
    if attribute.data_type != "FLOAT" or attribute.domain != "POINT":
        raise InputError(f"'{obj.name}': attribute '{name}' must be a Float on points, "
                         f"not {attribute.data_type} on {attribute.domain}.")
    values = np.empty(n, dtype=np.float32)
    attribute.data.foreach_get("value", values)
    return values


def export_splat_file(obj: bpy.types.Object, path: str, world: bool = False) -> int:
    """Write the object's splats to .ply or .splat; returns the number written."""
    scene = scene_from_object(obj, world=world)
    write_scene(scene, path)
    return len(scene)
