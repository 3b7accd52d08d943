#!/usr/bin/env python3
"""Build the Splat Enhancer extension zip for one platform.

    python tools/build_extension.py build --target linux-x64            # full: every runtime wheel
    python tools/build_extension.py build --target windows-x64 --torch-index-url URL
    python tools/build_extension.py build --wheels test                 # one light wheel (tests)
    python tools/build_extension.py lock                                # refresh wheels/runtime-lock.txt

Steps of `build`:
1. check the manifest's fields (a missing or malformed field stops the build, named);
2. fill wheels/<target>/ with binary wheels for the target platform and Python: the pinned
   runtime closure from wheels/runtime-lock.txt, plus torch/torchvision from a torch index (their
   CUDA builds are not on PyPI for every platform). Blender resolves no dependencies, so every
   wheel, transitive ones included, is downloaded and listed; what Blender itself bundles
   (numpy, requests and its helpers) is left out;
3. assemble build/extension/<target>/ from blender_manifest.toml (with `wheels` and `platforms`
   set for the target), gs_enhancer_addon/ and the wheels;
4. validate and build the zip with Blender's own extension tool (blender_ext.py from the bpy
   package: no Blender binary needed).

Must run with a Python that has `bpy` installed (the project's .venv does).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "blender_manifest.toml"
PACKAGE_DIR = ROOT / "gs_enhancer_addon"
WHEELS_DIR = ROOT / "wheels"
LOCK_FILE = WHEELS_DIR / "runtime-lock.txt"

# What Blender's own Python ships: never bundle a second copy.
BUNDLED_BY_BLENDER = {"numpy", "requests", "certifi", "idna", "charset-normalizer", "urllib3", "zstandard", "cython"}
# Installed from the torch index (matching CUDA builds), not from the lock.
TORCH_FAMILY = {"torch", "torchvision"}
# The light wheel set used by tests to prove the wheel mechanism (pure Python, tiny).
TEST_WHEELS = ("packaging==26.3",)

REQUIRED_FIELDS = {
    "schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
    "type": str, "blender_version_min": str, "license": list, "permissions": dict,
}


@dataclass(frozen=True)
class Target:
    blender_platform: str  # the manifest's platform name
    pip_platforms: tuple[str, ...]  # pip --platform tags, most specific first


TARGETS = {
    "linux-x64": Target("linux-x64", ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                      "linux_x86_64")),
    "windows-x64": Target("windows-x64", ("win_amd64",)),
    "macos-arm64": Target("macos-arm64", ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_11_0_arm64")),
}
# A sys_platform-style environment for evaluating the lock's markers per target.
MARKER_ENV = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
}


class BuildError(Exception):
    """A problem the person building can fix; printed without a traceback."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- 1. manifest -----------------------------------------------------------------------------

def read_manifest(path: Path = MANIFEST) -> dict:
    """Parse and check the manifest; raise BuildError naming the first bad field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"manifest not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{path.name} is not valid TOML: {exc}") from None
    for field, kind in REQUIRED_FIELDS.items():
        value = data.get(field)
        if value is None:
            raise BuildError(f"{path.name}: required field '{field}' is missing")
        if not isinstance(value, kind) or not value:
            raise BuildError(f"{path.name}: field '{field}' must be a non-empty {kind.__name__}, got {value!r}")
    if data["type"] != "add-on":
        raise BuildError(f"{path.name}: field 'type' must be \"add-on\", got {data['type']!r}")
    for key in ("files", "network"):
        if not data["permissions"].get(key):
            raise BuildError(f"{path.name}: field 'permissions.{key}' needs a reason (this add-on uses {key})")
    return data


def manifest_text(manifest_path: Path, wheels: list[str], platform: str) -> str:
    """The manifest as written into the extension: the source file with `platforms` and `wheels` set."""
    text = manifest_path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(platforms|wheels)\s*=.*\n", "", text)
    listing = "".join(f'  "./wheels/{name}",\n' for name in wheels)
    generated = f'platforms = ["{platform}"]\nwheels = [\n{listing}]\n'
    # Top-level keys must come before the first [table].
    head, sep, tail = text.partition("\n[")
    return f"{head.rstrip()}\n\n# Written by tools/build_extension.py for this platform.\n{generated}{sep}{tail}"


# --- 2. wheels -------------------------------------------------------------------------------

def lock_requirements(target: str) -> list[str]:
    """Pinned requirements from the lock whose markers apply to `target`."""
    from packaging.requirements import Requirement

    env = {**MARKER_ENV[target], "python_version": "3.11", "python_full_version": "3.11.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    wanted = []
    for line in LOCK_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            wanted.append(f"{req.name}{req.specifier}")
    return wanted


def pip_download(requirements: list[str], dest: Path, target: Target, python: str, *, deps: bool,
                 index_url: str | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest),
           "--python-version", python, "--implementation", "cp", "--abi", "cp" + python.replace(".", "")]
    for tag in target.pip_platforms:
        cmd += ["--platform", tag]
    if not deps:
        cmd.append("--no-deps")
    if index_url:
        cmd += ["--index-url", index_url]
    cmd += requirements
    print(">>", " ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        raise BuildError("pip could not download the wheels above for this platform (see pip's message)")


def fill_wheels(target_name: str, mode: str, python: str, torch_index_url: str | None, dest: Path) -> Path:
    """Download the wheel set into `dest` (normally wheels/<target>/) and return it."""
    target = TARGETS[target_name]
    if mode == "none":
        if not dest.is_dir():
            raise BuildError(f"--wheels none: {dest} does not exist; build once with --wheels full or test")
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if mode == "test":
        pip_download(list(TEST_WHEELS), dest, target, python, deps=False)
        return dest
    pip_download(lock_requirements(target_name), dest, target, python, deps=False)
    # torch with its own runtime dependencies (CUDA libraries on Linux) from the torch index.
    pip_download(["torch==2.13.0", "torchvision==0.28.0"], dest, target, python, deps=True,
                 index_url=torch_index_url)
    drop_unwanted_wheels(dest)
    return dest


def wheel_project(filename: str) -> str:
    return normalize(filename.split("-", 1)[0])


def drop_unwanted_wheels(folder: Path) -> None:
    """Remove what Blender bundles, and duplicates of one project (keep the newest file name)."""
    by_project: dict[str, list[Path]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        by_project.setdefault(wheel_project(wheel.name), []).append(wheel)
    for project, files in by_project.items():
        doomed = files if project in BUNDLED_BY_BLENDER else files[:-1]
        for wheel in doomed:
            wheel.unlink()


# --- 3 + 4. assemble and build --------------------------------------------------------------

def blender_ext_tool() -> Path:
    """Blender's extension tool, found inside the installed bpy package (without importing bpy)."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("this script needs the bpy package installed (run it with the project's .venv)")
    package_dir = Path(list(spec.submodule_search_locations)[0])
    found = sorted(package_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"blender_ext.py not found inside {package_dir}")
    return found[-1]


def assemble(target_name: str, wheel_dir: Path, stage: Path, manifest_path: Path = MANIFEST) -> list[str]:
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(PACKAGE_DIR, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = sorted(w.name for w in wheel_dir.glob("*.whl"))
    (stage / "wheels").mkdir()
    for name in wheels:
        shutil.copy2(wheel_dir / name, stage / "wheels" / name)
    (stage / "blender_manifest.toml").write_text(manifest_text(manifest_path, wheels, TARGETS[target_name]
                                                               .blender_platform), encoding="utf-8")
    return wheels


def run_blender_ext(*args: str) -> None:
    cmd = [sys.executable, str(blender_ext_tool()), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        raise BuildError(f"Blender's extension tool failed ({args[0]}):\n{result.stdout}{result.stderr}")


def build(args: argparse.Namespace) -> Path:
    manifest = read_manifest(args.manifest)
    wheel_dir = fill_wheels(args.target, args.wheels, args.python, args.torch_index_url,
                            args.wheel_dir or WHEELS_DIR / args.target)
    stage = args.build_dir / "extension" / args.target
    wheels = assemble(args.target, wheel_dir, stage, args.manifest)
    run_blender_ext("validate", str(stage))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = args.output_dir / f"{manifest['id']}-{manifest['version']}-{args.target}.zip"
    run_blender_ext("build", "--source-dir", str(stage), "--output-filepath", str(zip_path))
    print(f"built {zip_path} ({len(wheels)} wheels)")
    return zip_path


# --- lock ------------------------------------------------------------------------------------

# Wheels needed only on other platforms, so not installed where the lock is written.
PINS_NOT_INSTALLED_HERE = {"colorama": "==0.4.6"}


def _and_markers(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return f"({a}) and ({b})"


def _or_markers(a: str | None, b: str | None) -> str | None:
    """None means "always needed", which absorbs any condition."""
    if a is None or b is None:
        return None
    return a if a == b else f"({a}) or ({b})"


def write_lock(_args: argparse.Namespace) -> None:
    """Write the runtime closure of pyproject's dependencies, as installed here, to the lock file."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [(Requirement(r), None) for r in project["dependencies"]]
    markers: dict[str, str | None] = {}  # project -> marker under which it is needed (None: always)
    versions: dict[str, str] = {}
    while pending:
        req, inherited_marker = pending.pop()
        name = normalize(req.name)
        if name in BUNDLED_BY_BLENDER or name in TORCH_FAMILY:
            continue  # Blender ships it / torch and its own dependencies come from the torch index
        marker = _and_markers(inherited_marker, str(req.marker) if req.marker else None)
        if name in markers:
            merged = _or_markers(markers[name], marker)
            if merged == markers[name]:
                continue
            marker = merged
        markers[name] = marker
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:  # its marker excludes it here: pin from PINS_NOT_INSTALLED_HERE
            versions[name] = PINS_NOT_INSTALLED_HERE.get(name, str(req.specifier))
            continue
        versions[name] = "==" + dist.version.split("+")[0]
        for child in dist.requires or []:
            child_req = Requirement(child)
            if child_req.marker is None or "extra" not in str(child_req.marker):
                pending.append((child_req, marker))
    lines = {name: f"{name}{versions[name]}" + (f"; {markers[name]}" if markers[name] else "") for name in markers}
    body = "\n".join(lines[k] for k in sorted(lines))
    LOCK_FILE.write_text("# Runtime wheels bundled into the extension (torch/torchvision come from the torch index).\n"
                         "# Generated by `python tools/build_extension.py lock` from the project's .venv.\n"
                         f"{body}\n")
    print(f"wrote {LOCK_FILE} ({body.count(chr(10)) + 1} packages)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the extension zip")
    b.add_argument("--target", choices=sorted(TARGETS), default="linux-x64")
    b.add_argument("--python", default="3.11", help="Blender's Python version (4.2-5.0: 3.11)")
    b.add_argument("--wheels", choices=("full", "test", "none"), default="full",
                   help="full: every runtime wheel; test: one light wheel; none: reuse wheels/<target>/")
    b.add_argument("--torch-index-url", default=None,
                   help="index for torch/torchvision (e.g. https://download.pytorch.org/whl/cu128); default PyPI")
    b.add_argument("--manifest", type=Path, default=MANIFEST)
    b.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    b.add_argument("--build-dir", type=Path, default=ROOT / "build", help="where the extension folder is staged")
    b.add_argument("--wheel-dir", type=Path, default=None, help="wheel folder (default wheels/<target>/)")
    b.set_defaults(func=build)
    lock = sub.add_parser("lock", help="regenerate wheels/runtime-lock.txt from this environment")
    lock.set_defaults(func=write_lock)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
