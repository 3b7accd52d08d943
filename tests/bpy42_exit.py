"""Workaround for a crash in the bpy 4.2 *module* at interpreter exit (tests only).

In bpy 4.2.23 (PyPI), once a PointerProperty with a `poll` callback has been registered, the
Python process segfaults while shutting down, even after the class is unregistered:

    class PG(bpy.types.PropertyGroup):
        obj: PointerProperty(type=bpy.types.Object, poll=lambda self, o: True)
    bpy.utils.register_class(PG); bpy.utils.unregister_class(PG)   # exit code -11

bpy 5.0.1 does not crash. Our pickers use poll callbacks (splat objects, cameras only), so on
4.2 the test processes end with os._exit after everything is reported, skipping the broken
teardown. Nothing else is skipped: results and exit codes are those of the run.
"""

from __future__ import annotations

import os
import sys


def teardown_crashes() -> bool:
    bpy = sys.modules.get("bpy")
    return bpy is not None and tuple(bpy.app.version) < (5, 0, 0)


def exit_now(status: int) -> None:
    """Flush and leave without interpreter teardown (only where that teardown crashes)."""
    if teardown_crashes():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))


# Appended to scripts that a test runs in a fresh bpy process.
SCRIPT_FOOTER = """
import os as _os, sys as _sys, bpy as _bpy
if tuple(_bpy.app.version) < (5, 0, 0):  # see tests/bpy42_exit.py
    _sys.stdout.flush(); _sys.stderr.flush(); _os._exit(0)
"""
