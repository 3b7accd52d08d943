"""Add-on preferences (Edit > Preferences > Add-ons > Splat Enhancer)."""

from __future__ import annotations

import bpy

# The add-on's own package: "gs_enhancer_addon" in a checkout, "bl_ext.<repo>.splat_enhancer"
# once installed as an extension. Blender looks preferences up by this name.
ADDON_PACKAGE = __package__.rpartition(".")[0]


class GSE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    def draw(self, context):
        self.layout.label(text="Model sources and cache settings appear here.")


def get_preferences(context: bpy.types.Context) -> GSE_AP_preferences | None:
    """The preferences, or None when the add-on is registered without being enabled (tests)."""
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon else None


CLASSES = (GSE_AP_preferences,)
