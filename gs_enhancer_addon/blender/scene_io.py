"""Blender objects <-> GaussianScene (point clouds and meshes carrying 3DGS attributes)."""

from __future__ import annotations

import bpy

# Attribute names as Blender's own PLY importer creates them for an INRIA 3DGS .ply.
REQUIRED_ATTRIBUTES = ("f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                       "rot_0", "rot_1", "rot_2", "rot_3")


def is_splat_object(obj: bpy.types.Object | None) -> bool:
    """True for a mesh or point cloud that carries the 3DGS per-point attributes."""
    if obj is None or obj.type not in {"MESH", "POINTCLOUD"}:
        return False
    names = obj.data.attributes.keys()
    return all(name in names for name in REQUIRED_ATTRIBUTES)
