"""Splat Enhancer: Blender extension entry point.

Blender calls `register()` / `unregister()`. Importing this package imports neither bpy nor
torch: the Blender side is imported inside `register()` (so `python -m gs_enhancer_addon`
works without Blender), and torch, diffusers and open_clip only when a job starts (so Blender
start-up stays fast).
"""


def register() -> None:
    from .blender import registration

    registration.register()


def unregister() -> None:
    from .blender import registration

    registration.unregister()
