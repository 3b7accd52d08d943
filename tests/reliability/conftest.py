"""Shared fixtures of the adversarial suite: small inputs, a CLI runner that checks the promise, a tiny tmpfs.

The promise checked for every bad input or condition (issue 17): exit code 2 (or a Blender
report), one line, no traceback; the inputs byte-identical; no output left by a failed run; no
non-finite value in any splat that was written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gs_enhancer_addon.core.capture import write_cameras_json
from gs_enhancer_addon.core.io.ply import write_ply
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene

ROOT = Path(__file__).resolve().parents[2]
SMALL = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=2, width=32, height=24)
QUICK = ["--views-per-segment", "1", "--steps", "2", "--refine-iterations", "2", "--preset", "fast"]


@pytest.fixture(scope="session", autouse=True)
def tiny_model_cache(sandbox):
    """One tiny-model cache for the whole suite (built once, on the first job)."""
    previous = os.environ.get("GS_ENHANCER_MODEL_CACHE")
    os.environ["GS_ENHANCER_MODEL_CACHE"] = str(sandbox / "reliability-models")
    yield Path(os.environ["GS_ENHANCER_MODEL_CACHE"])
    if previous is None:
        os.environ.pop("GS_ENHANCER_MODEL_CACHE", None)
    else:
        os.environ["GS_ENHANCER_MODEL_CACHE"] = previous


@pytest.fixture
def inputs(tmp_path) -> Path:
    """in.ply (300 splats) and cams.json (2 cameras looking at it) in a fresh folder."""
    write_ply(sample_scene(SMALL), tmp_path / "in.ply")
    write_cameras_json(sample_cameras(SMALL), tmp_path / "cams.json")
    return tmp_path


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative name -> sha256): byte-identity and 'nothing new' in one."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def assert_clean_error(self, *expected: str) -> str:
        """Exit 2, exactly one error line (containing every `expected` text), no traceback."""
        assert self.code == 2, (self.code, self.err[-2000:])
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err[-2000:]
        assert len(self.error_lines) == 1, self.err[-2000:]
        line = self.error_lines[0]
        for text in expected:
            assert text.lower() in line.lower(), (text, line)
        return line


def run_cli(capsys, *argv: str) -> Outcome:
    """The CLI in this process (fast: torch is imported once for the whole suite)."""
    from gs_enhancer_addon.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_cli_subprocess(*argv: str, cwd: Path, timeout: float = 300) -> Outcome:
    """The CLI as a user runs it: `python -m gs_enhancer_addon ...` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "gs_enhancer_addon", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def assert_unchanged(folder: Path, before: dict[str, str]) -> None:
    """The inputs byte-identical and no new file (no output, no temporary) left in `folder`."""
    assert digest(folder) == before


def assert_finite_splat(path: Path) -> None:
    from gs_enhancer_addon.core.io import read_scene

    scene = read_scene(path, nonfinite="keep")
    assert not scene.nonfinite_mask().any(), f"{path.name} holds non-finite splats"
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert np.isfinite(getattr(scene, name)).all(), name


# ------------------------------------------------------------------------------------- tmpfs
class Mount:
    def __init__(self, path: Path):
        self.path = path

    def fill(self, leave_bytes: int = 0) -> None:
        """Fill the file system until at most `leave_bytes` are free."""
        with open(self.path / ".filler", "wb") as f:
            try:
                while True:
                    stat = os.statvfs(self.path)
                    free = stat.f_bavail * stat.f_frsize
                    if free <= leave_bytes:
                        break
                    f.write(b"\0" * min(1 << 16, free - leave_bytes))
                    f.flush()
            except OSError:
                pass


def _mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


def _unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path_factory):
    """A 1 MiB tmpfs (disk-full cases), outside the test's input folder; unmounted in teardown."""
    path = tmp_path_factory.mktemp("small-disk")
    _mount(path, "size=1m")
    yield Mount(path)
    _unmount(path)


@pytest.fixture
def read_only_disk(tmp_path_factory):
    """A read-only tmpfs (root cannot write there either); unmounted in teardown."""
    path = tmp_path_factory.mktemp("read-only")
    _mount(path, "size=1m,ro")
    yield Mount(path)
    _unmount(path)
