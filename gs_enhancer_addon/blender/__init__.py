"""The thin Blender layer: everything that imports bpy lives here, and only here."""
