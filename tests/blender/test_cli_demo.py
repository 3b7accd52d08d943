"""README command 1's job: `python -m gs_enhancer_addon demo` enhances the held-out sample scene with
the small trained set, writes all its outputs and scores them against the scene's photos (small
settings here; the full demo's improvement is measured in tests/core/test_small_set.py and
docs/benchmarks.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.blender.test_extension_install import run_blender_session

pytestmark = pytest.mark.needs_torch

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_ply_blend_and_sheet(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "GS_ENHANCER_MODEL_CACHE": str(tmp_path / "models")}
    result = subprocess.run(
        [sys.executable, "-m", "gs_enhancer_addon", "demo", "--out", str(out), "--steps", "1",
         "--refine-iterations", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["before_after.png", "sample_enhanced.blend", "sample_enhanced.ply", "sample_input.ply"]
    for name in names:
        assert str((out / name).resolve()) in result.stdout, f"{name}'s path is printed"
    assert "small set trained on synthetic scenes" in result.stdout  # the set's note
    assert re.search(r"Held-out photos \(45 views .*\): input [\d.]+ dB, enhanced [\d.]+ dB PSNR", result.stdout)

    blend = run_blender_session(tmp_path / "blender-user", f"""
        bpy.ops.wm.open_mainfile(filepath={str(out / 'sample_enhanced.blend')!r})
        obj = bpy.data.objects['Sample Splat Enhanced']
        out["type"], out["points"] = obj.type, len(obj.data.attributes['opacity'].data)
    """)
    assert blend["type"] in ("POINTCLOUD", "MESH") and blend["points"] == 2000
