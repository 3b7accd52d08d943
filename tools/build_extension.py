#!/usr/bin/env python3
"""Build the Splat Enhancer extension zip for one platform, for every Python Blender 4.2 to 5.2 uses.

    python tools/build_extension.py build --target linux-x64            # full: every runtime wheel
    python tools/build_extension.py build --target windows-x64 --torch-index-url URL
    python tools/build_extension.py build --gsplat-index-url URL        # + gsplat's prebuilt kernels
    python tools/build_extension.py build --python 3.13                 # Blender 5.1+ only
    python tools/build_extension.py build --wheels test                 # two small wheels (tests)
    python tools/build_extension.py lock                                # refresh wheels/runtime-lock.txt

One zip holds wheels for Python 3.11 (Blender 4.2 LTS to 5.0) and 3.13 (Blender 5.1, 5.2):
Blender extracts only the wheels that match its own Python. Steps of `build`:
1. check the manifest's fields (a missing or malformed field stops the build, named);
2. fill wheels/<target>/ with binary wheels for the target platform and each Python: the pinned
   runtime closure from wheels/runtime-lock.txt (markers evaluated per Python), plus
   torch/torchvision with their own dependencies from a torch index (their CUDA builds are not
   on PyPI for every platform), optionally gsplat with prebuilt kernels from gsplat's index.
   Blender resolves no dependencies, so every wheel, transitive ones included, is downloaded and
   listed; what Blender itself bundles (numpy, requests and its helpers) is left out. Every
   project must have one version, and a wheel for each Python;
3. assemble build/extension/<target>/ from blender_manifest.toml (with `wheels`, `platforms` and
   the Blender versions of the chosen Pythons set), gs_enhancer_addon/ and the wheels;
4. validate and build the zip with Blender's own extension tool (blender_ext.py from the bpy
   package: no Blender binary needed).

Must run with a Python that has `bpy` installed (the project's .venv does).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
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
# The light wheel set used by tests to prove the wheel mechanism: one pure-Python wheel, and one
# small binary package with a wheel per Python (a real compiled module Blender must pick right).
TEST_WHEELS = ("packaging==26.3", "mmh3==5.2.0")
TORCH_VERSION = "2.13.0"
TORCH_PINS = (f"torch=={TORCH_VERSION}", "torchvision==0.28.0")

# The Pythons Blender ships, and the Blender releases of each: (first, first that moved on).
BLENDER_PYTHONS = {"3.11": ("4.2.0", "5.1.0"), "3.13": ("5.1.0", None)}
DEFAULT_PYTHONS = tuple(BLENDER_PYTHONS)

REQUIRED_FIELDS = {
    "schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
    "type": str, "blender_version_min": str, "license": list, "permissions": dict,
}


@dataclass(frozen=True)
class Target:
    blender_platform: str  # the manifest's platform name
    pip_platforms: tuple[str, ...]  # pip --platform tags, most specific first


# pip matches --platform tags exactly (no "or older"), so every manylinux level up to Blender's
# own glibc floor (2.28 since Blender 4.2) is listed: torch's CUDA libraries use 2_27, 2_24, ...
_MANYLINUX = tuple(f"manylinux_2_{n}_x86_64" for n in range(28, 16, -1))
TARGETS = {
    "linux-x64": Target("linux-x64", _MANYLINUX + ("manylinux2014_x86_64", "manylinux2010_x86_64",
                                                   "manylinux1_x86_64", "linux_x86_64")),
    "windows-x64": Target("windows-x64", ("win_amd64",)),
    "macos-arm64": Target("macos-arm64", ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64",
                                          "macosx_11_0_arm64", "macosx_10_9_universal2")),
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


def blender_versions(pythons: list[str]) -> tuple[str, str | None]:
    """(blender_version_min, blender_version_max or None) of the Blender releases whose Python is in `pythons`."""
    ranges = sorted((BLENDER_PYTHONS[p] for p in pythons), key=lambda r: tuple(map(int, r[0].split("."))))
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        if end != start:
            raise BuildError(f"the Pythons {', '.join(pythons)} leave a gap in Blender versions ({end} to {start})")
    return ranges[0][0], ranges[-1][1]


def manifest_text(manifest_path: Path, wheels: list[str], platform: str, pythons: list[str]) -> str:
    """The manifest as written into the extension: the source file with `platforms`, `wheels` and
    the Blender version range of the bundled Pythons set."""
    text = manifest_path.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^wheels\s*=\s*\[.*?\]\n", "", text)  # a multi-line list first, whole
    text = re.sub(r"(?m)^(platforms|wheels|blender_version_min|blender_version_max)\s*=.*\n", "", text)
    listing = "".join(f'  "./wheels/{name}",\n' for name in wheels)
    low, high = blender_versions(pythons)
    generated = (f'blender_version_min = "{low}"\n' + (f'blender_version_max = "{high}"\n' if high else "")
                 + f'platforms = ["{platform}"]\nwheels = [\n{listing}]\n')
    # Top-level keys must come before the first [table].
    head, sep, tail = text.partition("\n[")
    return (f"{head.rstrip()}\n\n# Written by tools/build_extension.py for this platform and Python "
            f"{', '.join(pythons)}.\n{generated}{sep}{tail}")


# --- 2. wheels -------------------------------------------------------------------------------

def marker_environment(target: str, python: str) -> dict:
    return {**MARKER_ENV[target], "python_version": python, "python_full_version": f"{python}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def lock_requirements(target: str, python: str) -> list[str]:
    """Pinned requirements from the lock whose markers apply to `target` and `python`."""
    from packaging.requirements import Requirement

    env = marker_environment(target, python)
    wanted = []
    for line in LOCK_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            pins = [spec for spec in req.specifier if spec.operator == "=="]
            if not pins:
                raise BuildError(f"{LOCK_FILE.name}: '{line}' applies to Python {python} on {target} but is not "
                                 "pinned (==); pin it (the lock was written on another Python)")
            wanted.append(f"{req.name}{req.specifier}")
    return wanted


def pip_download(requirements: list[str], dest: Path, target: Target, python: str, *,
                 index_url: str | None = None, constraints: Path | None = None) -> None:
    """Download exactly these wheels (no dependencies: those are listed, or followed by download_closure)."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--dest", str(dest),
           "--python-version", python, "--implementation", "cp", "--abi", "cp" + python.replace(".", "")]
    for tag in target.pip_platforms:
        cmd += ["--platform", tag]
    if index_url:
        cmd += ["--index-url", index_url]
    if constraints:
        cmd += ["-c", str(constraints)]
    cmd += requirements
    print(">>", " ".join(cmd))
    # Local wheel folders (pip's find-links) may hold builds for this machine only, e.g. a CPU torch.
    env = {**os.environ, "PIP_FIND_LINKS": " "}
    if subprocess.run(cmd, env=env).returncode != 0:
        raise BuildError(f"pip could not download the wheels above for {target.blender_platform}, Python {python} "
                         "(see pip's message)")


def fill_wheels(target_name: str, mode: str, pythons: list[str], torch_index_url: str | None, dest: Path,
                gsplat_index_url: str | None = None) -> Path:
    """Download the wheel set for every Python into `dest` (normally wheels/<target>/) and return it."""
    target = TARGETS[target_name]
    if mode == "none":
        if not dest.is_dir():
            raise BuildError(f"--wheels none: {dest} does not exist; build once with --wheels full or test")
        check_wheels(dest, pythons, target_name)
        return dest
    if mode == "test":  # pip skips files already there: the folder doubles as the tests' wheel cache
        dest.mkdir(parents=True, exist_ok=True)
        for python in pythons:
            pip_download(list(TEST_WHEELS), dest, target, python)
        keep_only(dest, TEST_WHEELS)
        check_wheels(dest, pythons, target_name)
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    chosen = dest / ".constraints.txt"  # what the first Python got: every later one takes the same versions
    for python in pythons:
        pip_download(lock_requirements(target_name, python), dest, target, python)
        chosen.write_text("".join(f"{p}=={v}\n" for p, v in sorted(wheel_versions(dest).items())
                                  if p not in BUNDLED_BY_BLENDER))
        # torch with its own runtime dependencies (CUDA libraries on Linux) from the torch index.
        download_closure(list(TORCH_PINS), dest, target, python, index_url=torch_index_url, constraints=chosen)
        if gsplat_index_url:
            replace_gsplat(dest, target, python, gsplat_index_url)
    chosen.unlink()
    drop_unwanted_wheels(dest)
    check_wheels(dest, pythons, target_name, expect_cuda_torch=target_name == "linux-x64" and not torch_index_url)
    return dest


def download_closure(requirements: list[str], dest: Path, target: Target, python: str, *,
                     index_url: str | None, constraints: Path) -> None:
    """Download `requirements` and everything they need, level by level (pip download --no-deps),
    evaluating each wheel's dependency markers for the target platform and Python: pip's own
    resolver evaluates them for the machine it runs on (torch's CUDA libraries are Linux-only)."""
    from packaging.requirements import Requirement

    env = marker_environment(target.blender_platform, python)
    seen: dict[str, set[str]] = {}  # project -> extras already followed
    pending = requirements
    while pending:
        pip_download(pending, dest, target, python, index_url=index_url, constraints=constraints)
        following = []
        for line in pending:
            parent = Requirement(line)
            children = wheel_requirements(dest, normalize(parent.name), python)
            following += requirements_to_follow(parent, children, env, seen)
        pending = following


def requirements_to_follow(parent, children: list, env: dict, seen: dict[str, set[str]]) -> list[str]:
    """The children of `parent` (its wheel's Requires-Dist) needed on `env`, not followed yet
    (`seen`: project -> extras followed, updated); Blender's own packages are left out."""
    out = []
    for child in children:
        if child.marker and not any(child.marker.evaluate({**env, "extra": e}) for e in ("", *parent.extras)):
            continue
        name = normalize(child.name)
        if name in BUNDLED_BY_BLENDER or (name in seen and set(child.extras) <= seen[name]):
            continue
        seen[name] = seen.get(name, set()) | set(child.extras)
        extras = f"[{','.join(sorted(seen[name]))}]" if seen[name] else ""
        out.append(f"{child.name}{extras}{child.specifier}")
    return out


def wheel_requirements(folder: Path, project: str, python: str) -> list:
    """Requires-Dist of the wheel of `project` in `folder` that Python `python` loads."""
    from email.parser import Parser

    from packaging.requirements import Requirement

    wheel = next(w for w in sorted(folder.glob("*.whl")) if wheel_project(w.name) == project and wheel_serves(w.name, python))
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def replace_gsplat(dest: Path, target: Target, python: str, index_url: str) -> None:
    """Swap the pure-Python gsplat (JIT kernels) for gsplat's prebuilt wheel for the bundled torch/CUDA.

    gsplat's index names its wheels `gsplat-<version>+pt<torch major minor>cu<CUDA>-cp<python>-...`;
    kernels built for another torch do not load, so the torch part must match the bundled torch."""
    pin = next(r for r in lock_requirements(target.blender_platform, python) if normalize(r.split("=")[0]) == "gsplat")
    for wheel in dest.glob("gsplat-*-py3-none-any.whl"):
        wheel.unlink()
    hint = (f"pick the index of gsplat's wheels for torch {TORCH_VERSION} and its CUDA (README), or "
            "build without --gsplat-index-url (gsplat then compiles its kernels on the user's machine)")
    try:
        pip_download([pin], dest, target, python, index_url=index_url)
    except BuildError as exc:
        raise BuildError(f"{exc}\n{index_url} has no prebuilt {pin} wheel for Python {python}: {hint}") from None
    torch_tag = "pt" + "".join(TORCH_VERSION.split(".")[:2])
    wheels = [w.name for w in dest.glob("gsplat-*.whl") if wheel_serves(w.name, python)]
    if not any(wheel_tags(w)[0] != "py3" and f"+{torch_tag}" in wheel_version(w) for w in wheels):
        raise BuildError(f"{index_url} gave no prebuilt {pin} wheel for torch {TORCH_VERSION} and Python {python} "
                         f"(got: {', '.join(wheels) or 'nothing'}): {hint}")


def wheel_project(filename: str) -> str:
    return normalize(filename.split("-", 1)[0])


def wheel_version(filename: str) -> str:
    return filename.split("-")[1]


def wheel_tags(filename: str) -> tuple[str, str, str]:
    """(python, abi, platform) tags of a wheel file name."""
    python_tag, abi_tag, platform_tag = filename[: -len(".whl")].split("-")[-3:]
    return python_tag, abi_tag, platform_tag


def wheel_versions(folder: Path) -> dict[str, str]:
    return {wheel_project(w.name): wheel_version(w.name) for w in folder.glob("*.whl")}


def keep_only(folder: Path, requirements) -> None:
    """Remove wheels (from earlier runs into a reused folder) that are not for `requirements`."""
    wanted = {(normalize(r.split("==")[0]), r.split("==")[1]) for r in requirements}
    for wheel in folder.glob("*.whl"):
        if (wheel_project(wheel.name), wheel_version(wheel.name)) not in wanted:
            wheel.unlink()


def drop_unwanted_wheels(folder: Path) -> None:
    """Remove what Blender bundles (one copy of numpy & co. per Blender is all that may load)."""
    for wheel in folder.glob("*.whl"):
        if wheel_project(wheel.name) in BUNDLED_BY_BLENDER:
            wheel.unlink()


def wheel_serves(filename: str, python: str) -> bool:
    """Whether Blender's CPython `python` (e.g. "3.13") can load this wheel."""
    python_tags, abi_tags, _ = wheel_tags(filename)
    cp = "cp" + python.replace(".", "")
    for py_tag in python_tags.split("."):
        for abi in abi_tags.split("."):
            if py_tag in ("py3", f"py{cp[2:]}") and abi == "none":
                return True
            if py_tag == cp and abi in (cp, "none"):
                return True
            if abi == "abi3" and py_tag.startswith("cp3") and int(py_tag[3:]) <= int(cp[3:]):
                return True
    return False


def check_wheels(folder: Path, pythons: list[str], target_name: str, *, expect_cuda_torch: bool = False) -> None:
    """Every project has exactly one version, and a wheel that each Python can load."""
    by_project: dict[str, list[str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        by_project.setdefault(wheel_project(wheel.name), []).append(wheel.name)
    if not by_project:
        raise BuildError(f"no wheels in {folder}")
    problems = []
    for project, files in by_project.items():
        versions = sorted({wheel_version(f) for f in files})
        if len(versions) > 1:
            problems.append(f"{project}: several versions ({', '.join(versions)}); Blender would install them over each other")
        missing = [p for p in pythons if not any(wheel_serves(f, p) for f in files)]
        if missing:
            problems.append(f"{project}: no wheel for Python {', '.join(missing)} ({', '.join(files)})")
        if project == "torch" and expect_cuda_torch and any("+cpu" in v for v in versions):
            problems.append("torch: a CPU-only build was downloaded for Linux; the zip needs the CUDA build")
    if problems:
        raise BuildError(f"the wheel set in {folder} is not consistent:\n  " + "\n  ".join(problems))


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


def assemble(target_name: str, wheel_dir: Path, stage: Path, pythons: list[str], manifest_path: Path = MANIFEST
             ) -> list[str]:
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(PACKAGE_DIR, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = sorted(w.name for w in wheel_dir.glob("*.whl"))
    (stage / "wheels").mkdir()
    for name in wheels:
        shutil.copy2(wheel_dir / name, stage / "wheels" / name)
    text = manifest_text(manifest_path, wheels, TARGETS[target_name].blender_platform, pythons)
    (stage / "blender_manifest.toml").write_text(text, encoding="utf-8")
    return wheels


def run_blender_ext(*args: str) -> None:
    cmd = [sys.executable, str(blender_ext_tool()), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        raise BuildError(f"Blender's extension tool failed ({args[0]}):\n{result.stdout}{result.stderr}")


def build(args: argparse.Namespace) -> Path:
    manifest = read_manifest(args.manifest)
    pythons = sorted(set(args.python or DEFAULT_PYTHONS), key=lambda p: tuple(map(int, p.split("."))))
    blender_versions(pythons)  # a gap in Blender versions stops the build before any download
    wheel_dir = fill_wheels(args.target, args.wheels, pythons, args.torch_index_url,
                            args.wheel_dir or WHEELS_DIR / args.target, args.gsplat_index_url)
    stage = args.build_dir / "extension" / args.target
    wheels = assemble(args.target, wheel_dir, stage, pythons, args.manifest)
    run_blender_ext("validate", str(stage))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = args.output_dir / f"{manifest['id']}-{manifest['version']}-{args.target}.zip"
    run_blender_ext("build", "--source-dir", str(stage), "--output-filepath", str(zip_path))
    low, high = blender_versions(pythons)
    print(f"built {zip_path} ({len(wheels)} wheels, {zip_path.stat().st_size / 1e6:.1f} MB) for Blender {low}"
          + (f" up to (not including) {high}" if high else " and later") + f", Python {', '.join(pythons)}")
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
    b.add_argument("--python", action="append", choices=sorted(BLENDER_PYTHONS),
                   help="a Python to bundle wheels for; repeat for several (default: 3.11 for Blender 4.2-5.0 "
                        "and 3.13 for Blender 5.1+)")
    b.add_argument("--wheels", choices=("full", "test", "none"), default="full",
                   help="full: every runtime wheel; test: one light wheel; none: reuse wheels/<target>/")
    b.add_argument("--torch-index-url", default=None,
                   help="index for torch/torchvision (e.g. https://download.pytorch.org/whl/cu128); default PyPI")
    b.add_argument("--gsplat-index-url", default=None,
                   help="gsplat's wheel index for the bundled torch/CUDA pair: bundle gsplat with prebuilt kernels "
                        "(no compiler needed on the user's machine); default: gsplat from PyPI, kernels JIT-built")
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
