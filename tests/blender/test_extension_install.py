"""The built extension zip installs into Blender, registers its UI, and leaves cleanly.

Each Blender session runs in its own interpreter (bpy state and sys.modules are process-wide),
with BLENDER_USER_RESOURCES pointing at a per-test folder. Runs in every Blender leg: bpy 4.2.23
and 5.0.1 (Python 3.11) and bpy 5.2.3 (Python 3.13), each installing the same zip, which holds
real binary wheels for both Pythons (mmh3, cp311 and cp313) beside a pure-Python one.
The test wheels are downloaded once with pip into GSE_TEST_WHEELS (default .cache/test-wheels/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_extension  # noqa: E402

from tests.bpy42_exit import SCRIPT_FOOTER  # noqa: E402

MODULE = "bl_ext.user_default.splat_enhancer"
TEST_WHEEL_CACHE = Path(os.environ.get("GSE_TEST_WHEELS", ROOT / ".cache" / "test-wheels"))
THIS_PYTHON = f"cp{sys.version_info.major}{sys.version_info.minor}"

pytest.importorskip("bpy")


def run_blender_session(user_resources: Path, body: str) -> dict:
    """Run `body` in a fresh Python with bpy; it fills the dict `out`, returned as JSON."""
    script = ("import json, sys, bpy, addon_utils\nout = {}\n" + textwrap.dedent(body)
              + "\nprint('RESULT' + json.dumps(out))\n" + SCRIPT_FOOTER)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ext-build")
    code = build_extension.main(["build", "--wheels", "test", "--output-dir", str(work / "dist"),
                                 "--build-dir", str(work / "build"), "--wheel-dir", str(TEST_WHEEL_CACHE)])
    assert code == 0
    (zip_path,) = (work / "dist").glob("*.zip")
    return zip_path


def test_zip_holds_addon_manifest_and_listed_wheels(extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        manifest = archive.read("blender_manifest.toml").decode()
    assert {"__init__.py", "blender_manifest.toml", "blender/registration.py", "core/gaussians.py"} <= names
    wheels_in_zip = sorted(n.removeprefix("wheels/") for n in names if n.startswith("wheels/") and n.endswith(".whl"))
    binary = [w for w in wheels_in_zip if w.startswith("mmh3-")]
    assert [w.split("-")[2] for w in binary] == ["cp311", "cp313"], wheels_in_zip
    assert "packaging-26.3-py3-none-any.whl" in wheels_in_zip and len(wheels_in_zip) == 3
    for wheel in wheels_in_zip:
        assert f'"./wheels/{wheel}"' in manifest
    assert 'platforms = ["linux-x64"]' in manifest
    assert 'blender_version_min = "4.2.0"' in manifest and "blender_version_max =" not in manifest
    assert not any("__pycache__" in n for n in names)


def test_install_enable_disable_reenable_uninstall(extension_zip, tmp_path):
    user = tmp_path / "blender-user"
    installed = run_blender_session(user, f"""
        result = bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True)
        out["install"] = sorted(result)
        out["enabled"] = {MODULE!r} in bpy.context.preferences.addons
        out["panel"] = hasattr(bpy.types, "GSE_PT_main")
        out["operator"] = hasattr(bpy.ops.gse, "enhance_splat") and bpy.ops.gse.enhance_splat.idname() == "GSE_OT_enhance_splat"
        out["scene_props"] = hasattr(bpy.types.Scene, "gs_enhancer")
        out["prefs"] = type(bpy.context.preferences.addons[{MODULE!r}].preferences).__name__
        out["heavy_imports"] = sorted(m for m in ("torch", "diffusers", "open_clip", "transformers") if m in sys.modules)
        import packaging, mmh3
        out["wheel_site"] = [p for p in sys.path if ".local" in p and "site-packages" in p]
        out["mmh3_file"] = mmh3.__file__
        out["mmh3_hash"] = mmh3.hash("splat", 42)
        out["python"] = "cp%d%d" % sys.version_info[:2]
        bpy.ops.wm.save_userpref()
    """)
    assert installed["install"] == ["FINISHED"]
    assert installed["enabled"] and installed["panel"] and installed["operator"] and installed["scene_props"]
    assert installed["prefs"] == "GSE_AP_preferences"
    assert installed["heavy_imports"] == [], "register() must not import torch & co."
    site = [Path(p) for p in installed["wheel_site"]]
    assert any((p / "packaging").is_dir() for p in site), f"bundled wheel not extracted: {site}"
    # The compiled wheel for this Blender's Python was extracted (only that one) and its module runs.
    assert installed["python"] == THIS_PYTHON
    assert any(Path(installed["mmh3_file"]).is_relative_to(p) for p in site), installed["mmh3_file"]
    compiled = sorted(f.name for p in site for f in p.rglob("mmh3*.so"))
    assert compiled and all(f"-{THIS_PYTHON[2:]}-" in name for name in compiled), compiled
    assert installed["mmh3_hash"] == _murmur3_32(b"splat", 42)

    # A later Blender session: enable from preferences, disable (nothing left), re-enable, uninstall.
    later = run_blender_session(user, f"""
        out["enabled_at_start"] = {MODULE!r} in bpy.context.preferences.addons
        addon_utils.enable({MODULE!r}, default_set=True)
        out["panel_after_enable"] = hasattr(bpy.types, "GSE_PT_main")
        addon_utils.disable({MODULE!r}, default_set=True)
        out["left_after_disable"] = [n for n in ("GSE_PT_main", "GSE_OT_enhance_splat", "GSE_PG_settings",
                                                 "GSE_AP_preferences") if hasattr(bpy.types, n)]
        out["scene_prop_after_disable"] = hasattr(bpy.types.Scene, "gs_enhancer")
        addon_utils.enable({MODULE!r}, default_set=True)
        out["panel_after_reenable"] = hasattr(bpy.types, "GSE_PT_main")
        addon_utils.disable({MODULE!r}, default_set=True)
        out["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(repo_index=1, pkg_id="splat_enhancer"))
    """)
    assert later["panel_after_enable"]
    assert later["left_after_disable"] == [] and not later["scene_prop_after_disable"]
    assert later["panel_after_reenable"]
    assert later["uninstall"] == ["FINISHED"]
    assert not list(user.rglob("splat_enhancer/__init__.py")), "package files remain after uninstall"


def _murmur3_32(data: bytes, seed: int) -> int:
    """MurmurHash3 x86_32 (Appleby), signed like mmh3.hash: the compiled wheel's answer, checked here."""
    c1, c2, h, mask = 0xCC9E2D51, 0x1B873593, seed, 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & mask  # noqa: E731
    tail_at = len(data) - len(data) % 4
    for i in range(0, tail_at, 4):
        k = rotl((int.from_bytes(data[i:i + 4], "little") * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    k = int.from_bytes(data[tail_at:], "little")
    if k or len(data) % 4:
        h ^= rotl(k * c1 & mask, 15) * c2 & mask
    h ^= len(data)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = (h ^ (h >> shift)) * mult & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def test_bad_manifest_field_is_named(tmp_path):
    source = (ROOT / "blender_manifest.toml").read_text()
    broken = tmp_path / "blender_manifest.toml"
    broken.write_text(source.replace('maintainer = "Splat Enhancer developers"\n', ""))
    with pytest.raises(build_extension.BuildError, match="'maintainer' is missing"):
        build_extension.read_manifest(broken)
    broken.write_text(source.replace('type = "add-on"', 'type = "theme"'))
    with pytest.raises(build_extension.BuildError, match="'type'"):
        build_extension.read_manifest(broken)
    broken.write_text(source.replace('network = "Downloads models, only when Blender allows online access"\n', ""))
    with pytest.raises(build_extension.BuildError, match="permissions.network"):
        build_extension.read_manifest(broken)


def test_build_script_reports_bad_manifest_without_traceback(tmp_path, capsys):
    broken = tmp_path / "blender_manifest.toml"
    broken.write_text((ROOT / "blender_manifest.toml").read_text().replace('version = "0.1.0"\n', ""))
    code = build_extension.main(["build", "--wheels", "test", "--manifest", str(broken),
                                 "--output-dir", str(tmp_path / "dist"), "--build-dir", str(tmp_path / "b"),
                                 "--wheel-dir", str(tmp_path / "w")])
    assert code == 1
    assert "required field 'version' is missing" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists(), "nothing is built from a broken manifest"


def test_blender_validate_passes_on_staged_manifest(extension_zip):
    # extension_zip ran Blender's `validate` on the staged folder; validate the zip itself as well.
    result = subprocess.run([sys.executable, str(build_extension.blender_ext_tool()), "validate", str(extension_zip)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
