"""core/ must import with bpy, mathutils and bpy_extras made unimportable (one import direction)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import gs_enhancer_addon.core as core

ROOT = Path(__file__).resolve().parents[2]


def all_core_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages(core.__path__, prefix="gs_enhancer_addon.core.")
    )


def test_every_core_module_imports_without_bpy():
    modules = all_core_modules()
    assert "gs_enhancer_addon.core.gaussians" in modules  # the walk really found the package
    # A meta path finder that refuses bpy & co. runs first in a fresh interpreter.
    script = f"""
import sys, importlib
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('bpy', 'mathutils', 'bpy_extras', 'bmesh'):
            raise ImportError('core/ must not import ' + name)
        return None
sys.meta_path.insert(0, Refuse())
for name in {modules!r}:
    importlib.import_module(name)
assert not any(m.split('.')[0] in ('bpy', 'mathutils', 'bpy_extras', 'bmesh') for m in sys.modules)
print('imported', len({modules!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(modules)}" in result.stdout
