"""Put the built-in sample (core/sample.py) into a Blender scene: splat object + reference cameras."""

from __future__ import annotations

import bpy

from ..core.sample import SampleConfig, sample_cameras, sample_scene
from .camera_io import cameras_to_collection
from .scene_io import object_from_scene

SAMPLE_NAME = "Sample Splat"


def add_sample(context: bpy.types.Context, config: SampleConfig | None = None):
    """The sample splat and its cameras (collection "Sample Cameras"), wired into the sidebar settings."""
    splat = object_from_scene(context, sample_scene(config), name=SAMPLE_NAME)
    collection, _warnings = cameras_to_collection(context, sample_cameras(config), "Sample Cameras")
    settings = context.scene.gs_enhancer
    settings.source = splat
    settings.path_mode = "COLLECTION"
    settings.camera_collection = collection
    return splat, collection


class GSE_OT_add_sample(bpy.types.Operator):
    """Add the built-in sample splat and reference cameras, ready to enhance"""

    bl_idname = "gse.add_sample"
    bl_label = "Add Sample Scene"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        splat, collection = add_sample(context)
        self.report({"INFO"}, f"Added '{splat.name}' and {len(collection.objects)} cameras.")
        return {"FINISHED"}


CLASSES = (GSE_OT_add_sample,)
