"""Run in a fresh interpreter by test_main_thread_imports.py: press Enhance Splat through the real
operator and report which heavy modules were imported on Blender's main thread before the job ran.

Prints one JSON line: {"heavy": [...], "snapshot_seconds": s}.
"""

from __future__ import annotations

import json
import sys
import time

import bpy

import gs_enhancer_addon
from gs_enhancer_addon.blender import operators

HEAVY = ("torch", "diffusers", "transformers", "open_clip", "gsplat")

gs_enhancer_addon.register()
bpy.ops.gse.add_sample()
seen = {}


def run_now(work, on_done, on_error):  # the runner's entry: the job would start here
    seen["heavy"] = sorted(m for m in HEAVY if m in sys.modules)
    seen["snapshot_seconds"] = time.perf_counter() - pressed


operators.RUNNER.run_now = run_now
pressed = time.perf_counter()
bpy.ops.gse.enhance_splat()
print(json.dumps(seen))
