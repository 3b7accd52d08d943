"""scripts/enhancer_proof.py, the one script that regenerates the small set's data, training and
evaluation, end to end at toy size: Blender captures, make-pairs, the three trainings, the set,
the tuning on validation scenes and the held-out evaluation JSON; a second run resumes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_torch

ROOT = Path(__file__).resolve().parents[2]
TOY = ["--train-scenes", "1", "--validation-scenes", "1", "--heldout-scenes", "1", "--capture-views", "8",
       "--capture-size", "32x24", "--capture-samples", "2", "--views", "3", "--fit-iterations", "3",
       "--random-points", "200", "--max-frames", "4", "--vae-max-frames", "3", "--vae-steps", "2", "--unet-steps", "2",
       "--decoder-steps", "2",
       "--eval-views", "3", "--tune-steps", "1,2", "--tune-guidance", "1", "--refine-iterations", "2", "--seeds", "0",
       "--jobs", "1"]


def _run(tmp_path: Path, stages: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GS_ENHANCER_MODEL_CACHE": str(tmp_path / "models"), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "scripts/enhancer_proof.py", "--work", str(tmp_path / "work"),
                           "--json", str(tmp_path / "proof.json"), "--stages", stages, *TOY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_the_proof_script_runs_every_stage_and_resumes(tmp_path):
    stages = "captures,pairs,base,vae,unet,decoder,assemble,tune,evaluate"  # not ship: it writes into the add-on
    first = _run(tmp_path, stages)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    work = tmp_path / "work"
    proof = json.loads((tmp_path / "proof.json").read_text())
    assert proof["scenes_heldout"] == 1 and proof["reference_views"] == 3 and proof["heldout_views_per_scene"] == 5
    for key in ("heldout_psnr_low_view", "heldout_psnr_full", "heldout_psnr_untrained"):
        assert math.isfinite(proof[key]) and 0 < proof[key] < 100
    assert set(proof["table"]) >= {"low_view", "full", "untrained", "no_enhancer", "no_pose", "repeated_clip",
                                   "uniform_confidence", "full:enhanced_frames", "untrained:enhanced_frames"}
    assert {"cfw_off", "cfw_on"} & set(proof["table"])  # switched away from the tuned setting
    assert {"color_correction_off", "color_correction_on"} & set(proof["table"])
    assert proof["machine"] and proof["settings"]["enhancer"]["num_inference_steps"] in (1, 2)
    manifest = json.loads((work / "small" / "MANIFEST.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((work / "small" / name).read_bytes()).hexdigest() == digest
    assert manifest["recommended"] == proof["settings"]["enhancer"]  # the tuned settings travel with the set
    tuned = json.loads((work / "tuned.json").read_text())
    assert len(tuned["validation_psnr"]) == 2 + 6  # steps x guidance, then CFW weight x colour correction
    assert "train-enhancer" in manifest["commands"]["unet"] and "--layers all" in manifest["commands"]["unet"]

    logs = {p.name: p.read_text() for p in (work / "logs").iterdir() if not p.name.startswith("pairs")}
    again = _run(tmp_path, stages)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {p.name: p.read_text() for p in (work / "logs").iterdir() if not p.name.startswith("pairs")} == logs
    assert json.loads((tmp_path / "proof.json").read_text())["table"] == proof["table"]  # rows kept, not rerun
