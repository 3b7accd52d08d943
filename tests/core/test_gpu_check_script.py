"""scripts/gpu_check.sh, as far as a CPU allows: the carried wheels are complete and install offline
for the GPU machine's Python 3.12, the CUDA tests collect, the fallback test passes (--dry-run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
WHEEL_CACHE = Path(os.environ.get("GSE_TEST_GPU_WHEELS", ROOT / ".cache" / "gpu-wheels"))


def _python312_present() -> bool:
    python = shutil.which("python3.12")
    return python is not None and subprocess.run([python, "-V"], env={**os.environ, "PYENV_VERSION": "3.12.1"},
                                                 capture_output=True).returncode == 0


def _run(mode: str, wheels: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GSE_GPU_WHEELS": str(wheels), "GSE_PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), mode], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not _python312_present(), reason="needs python3.12 (the GPU machine's Python) to check the wheels")
def test_dry_run_checks_wheels_tests_and_fallback():
    prepared = _run("--prepare", WHEEL_CACHE)  # pip skips wheels already in the cache
    assert prepared.returncode == 0, prepared.stdout[-2000:] + prepared.stderr[-2000:]
    dry = _run("--dry-run", WHEEL_CACHE)
    out = dry.stdout
    assert dry.returncode == 0, out[-3000:] + dry.stderr[-2000:]
    assert "wheels install offline for Python 3.12" in out
    collected = int(out.split("CUDA tests collected: ")[1].split()[0])
    assert collected >= 8, "parity, fallback, enhancer, refine and stylize CUDA tests"
    assert "dry run: OK" in out


def test_dry_run_names_missing_wheels(tmp_path):
    dry = _run("--dry-run", tmp_path)
    assert dry.returncode == 1
    assert "missing wheel: diffusers==0.42.1" in dry.stdout and "--prepare" in dry.stdout
    assert "dry run: FAILED" in dry.stdout
