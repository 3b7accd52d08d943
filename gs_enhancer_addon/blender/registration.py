"""One CLASSES tuple, registered in order and unregistered in reverse.

Each UI module exposes its own `CLASSES`; this module concatenates them once, so there is a
single place that says what the add-on puts into Blender. Scene properties and menu entries
are added after the classes and removed before them.
"""

from __future__ import annotations

import bpy

from . import camera_operators, io_operators, operators, panel, preferences, props, sample

CLASSES = (
    *preferences.CLASSES,
    *props.CLASSES,
    *operators.CLASSES,
    *sample.CLASSES,
    *camera_operators.CLASSES,
    *io_operators.CLASSES,
    *panel.CLASSES,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register_scene_properties()
    camera_operators.register_menus()
    io_operators.register_menus()


def unregister() -> None:
    io_operators.unregister_menus()
    camera_operators.unregister_menus()
    props.unregister_scene_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
