"""A viewport preview of the sampled camera path: one wire mesh object, rebuilt on demand.

The object ("<path source> Path Preview") holds the trajectory as a polyline through every
sampled camera centre plus a short tick along each view direction, so the user sees where the
novel views will be and where they look. It never renders (hide_render) and there is at most one
per scene, found again by its `gse_path_preview` marker, so updating keeps the user's hide state.
Per-vertex attribute `gse_confidence` holds each view's image-level confidence (ticks: 0).
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..core.trajectory import Trajectory
from .camera_io import snapshot_camera_path, trajectory_config

PREVIEW_PROP = "gse_path_preview"
TICK_FRACTION = 0.25  # tick length as a fraction of the median distance between consecutive views


def path_source_name(settings) -> str:
    if settings.path_mode == "ANIMATED":
        return settings.animated_camera.name if settings.animated_camera else "Camera"
    if settings.path_mode == "LIST":
        return "Camera List"
    return settings.camera_collection.name if settings.camera_collection else "Cameras"


def preview_geometry(trajectory: Trajectory, closed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices [2N, 3] float32 (centres, then tick ends), edges [E, 2] int32, confidence [2N] float32."""
    centers = np.stack([c.center for c in trajectory.cameras])
    forward = np.stack([c.cam_to_world[:3, 2] for c in trajectory.cameras])  # OpenCV +z = view direction
    steps = np.linalg.norm(np.diff(centers, axis=0), axis=1)
    steps = steps[steps > 0]
    tick = TICK_FRACTION * (float(np.median(steps)) if steps.size else 1.0)
    n = len(centers)
    verts = np.concatenate([centers, centers + tick * forward]).astype(np.float32)
    path = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    if closed and n > 2:
        path = np.vstack([path, [[n - 1, 0]]])
    ticks = np.stack([np.arange(n), np.arange(n, 2 * n)], axis=1)
    confidence = np.concatenate([trajectory.confidence, np.zeros(n)]).astype(np.float32)
    return verts, np.vstack([path, ticks]).astype(np.int32), confidence


def build_preview_mesh(name: str, trajectory: Trajectory, closed: bool) -> bpy.types.Mesh:
    verts, edges, confidence = preview_geometry(trajectory, closed)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", np.ascontiguousarray(verts).ravel())
    mesh.edges.add(len(edges))
    mesh.edges.foreach_set("vertices", np.ascontiguousarray(edges).ravel())
    attr = mesh.attributes.new("gse_confidence", "FLOAT", "POINT")
    attr.data.foreach_set("value", np.ascontiguousarray(confidence))
    mesh.update()
    return mesh


def find_preview(scene: bpy.types.Scene):
    return next((o for o in scene.objects if o.get(PREVIEW_PROP)), None)


def update_path_preview(context_or_scene, settings=None) -> tuple[bpy.types.Object, Trajectory]:
    """Snapshot the sidebar's camera path and (re)build its preview object; returns it and the trajectory."""
    scene = getattr(context_or_scene, "scene", None) or context_or_scene
    settings = settings if settings is not None else scene.gs_enhancer
    _references, trajectory = snapshot_camera_path(scene, settings)
    closed = trajectory_config(settings).closed_loop
    name = f"{path_source_name(settings)} Path Preview"
    mesh = build_preview_mesh(name, trajectory, closed)
    obj = find_preview(scene)
    if obj is None:
        obj = bpy.data.objects.new(name, mesh)
        obj[PREVIEW_PROP] = True
        obj.hide_render = True
        obj.display_type = "WIRE"
        scene.collection.objects.link(obj)
    else:
        old = obj.data
        obj.data = mesh
        obj.name = name
        if old.users == 0:
            bpy.data.meshes.remove(old)
    obj.matrix_world = Matrix.Identity(4)  # vertices are in world coordinates
    return obj, trajectory
