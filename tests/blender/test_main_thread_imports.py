"""Pressing Enhance Splat imports no torch, diffusers or transformers on Blender's main thread: the
snapshot (scene, cameras, job config) is plain data; the heavy modules load in the job's thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]


def test_pressing_enhance_imports_nothing_heavy_on_the_main_thread():
    probe = subprocess.run([sys.executable, str(Path(__file__).with_name("main_thread_probe.py"))],
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                           timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "heavy" in seen, "the operator reached the runner"
    assert seen["heavy"] == [], f"imported on the main thread: {seen['heavy']}"
