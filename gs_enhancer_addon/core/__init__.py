"""Pure computation: numpy and torch only. Never imports bpy, mathutils or bpy_extras.

Modules here are imported lazily by the Blender side (when a job starts), never at add-on
registration, so Blender start-up stays fast.
"""
