"""A recording stand-in for bpy.types.UILayout, checked against Blender's real RNA.

Panel draw() never runs in background mode, so draw functions are called with this recorder:
every `prop` is checked against the data's real RNA properties, every `operator` against the
registered operators, every `template_list` against the registered UIList and properties. A typo
there would break the panel in the UI; here it fails the test. It records; it does not render.
"""

from __future__ import annotations

import bpy


class LayoutRecorder:
    def __init__(self, log: list | None = None):
        self.log = [] if log is None else log
        self.active = True

    def prop(self, data, name, **_kw):
        self.log.append(("prop", name, name in data.bl_rna.properties))

    def operator(self, idname, **_kw):
        group, name = idname.split(".")
        self.log.append(("op", idname, hasattr(getattr(bpy.ops, group), name)))
        return type("OperatorProperties", (), {})()

    def template_list(self, listtype, _id, data, prop, active_data, active_prop, **_kw):
        ok = (hasattr(bpy.types, listtype) and prop in data.bl_rna.properties
              and active_prop in active_data.bl_rna.properties)
        self.log.append(("list", listtype, ok))

    def label(self, text="", **_kw):
        self.log.append(("label", text, True))

    def progress(self, factor=0.0, text="", **_kw):
        self.log.append(("progress", text, 0.0 <= factor <= 1.0))

    def row(self, **_kw):
        return self

    column = row

    def separator(self, **_kw):
        pass

    def all_valid(self) -> bool:
        return bool(self.log) and all(ok for *_, ok in self.log)
