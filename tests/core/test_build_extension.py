"""tools/build_extension.py without Blender: Python/Blender ranges, the per-Python lock, the wheel-set
checks and the prebuilt-gsplat option. (Building and installing a zip: tests/blender/test_extension_install.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_extension as bx  # noqa: E402

MMH3_311 = "mmh3-5.2.0-cp311-cp311-manylinux_2_28_x86_64.whl"
MMH3_313 = "mmh3-5.2.0-cp313-cp313-manylinux_2_28_x86_64.whl"


def _folder(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("pythons, expected", [
    (["3.11", "3.13"], ("4.2.0", None)),
    (["3.11"], ("4.2.0", "5.1.0")),
    (["3.13"], ("5.1.0", None)),
])
def test_blender_range_follows_the_bundled_pythons(pythons, expected, tmp_path):
    assert bx.blender_versions(pythons) == expected
    text = bx.manifest_text(bx.MANIFEST, [MMH3_311], "linux-x64", pythons)
    assert text.count("blender_version_min =") == 1 and f'blender_version_min = "{expected[0]}"' in text
    assert ('blender_version_max =' in text) == (expected[1] is not None)
    assert f'"./wheels/{MMH3_311}"' in text and text.index("wheels = [") < text.index("[permissions]")


@pytest.mark.parametrize("python", ["3.11", "3.13"])
@pytest.mark.parametrize("target", sorted(bx.TARGETS))
def test_lock_is_pinned_for_every_python_and_platform(python, target):
    wanted = bx.lock_requirements(target, python)
    names = {bx.normalize(r.split("==")[0]) for r in wanted}
    assert all("==" in r for r in wanted)
    assert {"diffusers", "transformers", "gsplat", "open-clip-torch", "safetensors"} <= names
    assert ("colorama" in names) == (target == "windows-x64"), "markers are evaluated per platform"
    assert not {"exceptiongroup", "tomli"} & names, "markers are evaluated per Python (both are for < 3.11)"
    assert not names & bx.BUNDLED_BY_BLENDER and not names & bx.TORCH_FAMILY


def test_lock_entry_without_pin_for_a_python_is_named(tmp_path, monkeypatch):
    lock = tmp_path / "runtime-lock.txt"
    lock.write_text('diffusers==0.42.1\nbackports-zstd>=1.0; python_version >= "3.13"\n')
    monkeypatch.setattr(bx, "LOCK_FILE", lock)
    assert bx.lock_requirements("linux-x64", "3.11") == ["diffusers==0.42.1"]
    with pytest.raises(bx.BuildError, match="backports-zstd.*Python 3.13.*not pinned"):
        bx.lock_requirements("linux-x64", "3.13")


@pytest.mark.parametrize("name, python, serves", [
    (MMH3_311, "3.11", True), (MMH3_311, "3.13", False), (MMH3_313, "3.13", True),
    ("packaging-26.3-py3-none-any.whl", "3.13", True),
    ("six-1.17.0-py2.py3-none-any.whl", "3.11", True),
    ("tokenizers-0.23.3-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "3.13", True),
    ("tokenizers-0.23.3-cp314-abi3-manylinux_2_17_x86_64.whl", "3.13", False),
])
def test_wheel_python_tags(name, python, serves):
    assert bx.wheel_serves(name, python) is serves


def test_wheel_set_keeps_one_file_per_python_and_checks_it(tmp_path):
    folder = _folder(tmp_path, MMH3_311, MMH3_313, "packaging-26.3-py3-none-any.whl", "numpy-2.4.0-cp313-cp313-x.whl")
    bx.drop_unwanted_wheels(folder)  # Blender's own numpy goes; both mmh3 files stay
    assert sorted(p.name for p in folder.iterdir()) == sorted([MMH3_311, MMH3_313, "packaging-26.3-py3-none-any.whl"])
    bx.check_wheels(folder, ["3.11", "3.13"], "linux-x64")


def test_wheel_set_problems_are_named(tmp_path):
    folder = _folder(tmp_path, MMH3_311, "mmh3-5.1.0-cp313-cp313-manylinux_2_28_x86_64.whl",
                     "regex-2026.11.15-cp311-cp311-manylinux_2_28_x86_64.whl",
                     "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                     "torch-2.13.0+cpu-cp313-cp313-manylinux_2_28_x86_64.whl")
    with pytest.raises(bx.BuildError) as err:
        bx.check_wheels(folder, ["3.11", "3.13"], "linux-x64", expect_cuda_torch=True)
    message = str(err.value)
    assert "mmh3: several versions (5.1.0, 5.2.0)" in message
    assert "regex: no wheel for Python 3.13" in message
    assert "torch: a CPU-only build" in message


def test_linux_platform_tags_cover_every_manylinux_level():
    tags = bx.TARGETS["linux-x64"].pip_platforms
    assert {f"manylinux_2_{n}_x86_64" for n in range(17, 29)} <= set(tags)  # torch's CUDA libraries use 2_27
    assert "manylinux_2_29_x86_64" not in tags, "Blender 4.2's glibc floor is 2.28"


def test_gsplat_index_without_a_matching_wheel_stops_the_build(tmp_path):
    index = tmp_path / "index"
    (index / "gsplat").mkdir(parents=True)
    (index / "gsplat" / "index.html").write_text("<html><body></body></html>")
    dest = tmp_path / "wheels"
    dest.mkdir()
    _folder(dest, "gsplat-1.5.3-py3-none-any.whl")
    with pytest.raises(bx.BuildError, match="no prebuilt gsplat==1.5.3 wheel.*torch 2.13"):
        bx.replace_gsplat(dest, bx.TARGETS["linux-x64"], "3.11", index.as_uri())


def test_build_refuses_pythons_that_leave_a_gap(monkeypatch):
    monkeypatch.setitem(bx.BLENDER_PYTHONS, "3.15", ("6.0.0", None))
    with pytest.raises(bx.BuildError, match="gap"):
        bx.blender_versions(["3.11", "3.15"])


def test_dependencies_are_followed_with_the_target_markers():
    """torch's CUDA libraries are Linux-only: pip would judge that on the building machine."""
    from packaging.requirements import Requirement

    torch = Requirement("torch==2.13.0")
    children = [Requirement(r) for r in (
        "sympy>=1.13.3", "filelock", "numpy",
        'cuda-toolkit[cublas,cudart]==13.0.3; platform_system == "Linux"',
        'triton==3.7.1; platform_system == "Linux" and python_version < "3.15"',
        'opt-einsum>=3.3; extra == "opt-einsum"',
    )]
    linux, seen = bx.marker_environment("linux-x64", "3.13"), {}
    assert bx.requirements_to_follow(torch, children, linux, seen) == [
        "sympy>=1.13.3", "filelock", "cuda-toolkit[cublas,cudart]==13.0.3", "triton==3.7.1"]
    assert bx.requirements_to_follow(torch, children, linux, seen) == [], "each project is followed once"
    more = [Requirement('cuda-toolkit[cufft]==13.0.3; platform_system == "Linux"')]
    assert bx.requirements_to_follow(torch, more, linux, seen) == ["cuda-toolkit[cublas,cudart,cufft]==13.0.3"]
    windows = bx.marker_environment("windows-x64", "3.11")
    assert bx.requirements_to_follow(torch, children, windows, {}) == ["sympy>=1.13.3", "filelock"]
    cuda_toolkit = Requirement("cuda-toolkit[cublas]==13.0.3")
    extras = [Requirement(r) for r in ('nvidia-cublas==13.1.1.3; extra == "cublas"', 'nvidia-cufft; extra == "cufft"')]
    assert bx.requirements_to_follow(cuda_toolkit, extras, linux, {}) == ["nvidia-cublas==13.1.1.3"]


def test_a_multi_line_wheels_list_in_the_source_manifest_is_replaced_whole(tmp_path):
    import tomllib

    manifest = tmp_path / "blender_manifest.toml"
    manifest.write_text(bx.MANIFEST.read_text(encoding="utf-8") + 'wheels = [\n  "./wheels/old.whl",\n]\n')
    data = tomllib.loads(bx.manifest_text(manifest, [MMH3_311], "linux-x64", ["3.11"]))
    assert data["wheels"] == [f"./wheels/{MMH3_311}"]
