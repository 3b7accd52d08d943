"""The antimatter15 .splat format: 32-byte rows, lossy but faithful to within its quantization."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import SplatFileError
from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene
from gs_enhancer_addon.core.io import read_scene, write_scene


def random_scene(n: int = 30, degree: int = 2, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=rng.standard_normal((n, 3)).astype(np.float32),
        quats=rng.standard_normal((n, 4)).astype(np.float32),
        log_scales=rng.uniform(-4, 0, (n, 3)).astype(np.float32),
        opacity_logits=rng.uniform(-4, 4, n).astype(np.float32),
        sh=rng.uniform(-1.5, 1.5, (n, (degree + 1) ** 2, 3)).astype(np.float32),
    )


def test_round_trip_within_the_format_quantization(tmp_path):
    scene = random_scene()
    write_scene(scene, tmp_path / "s.splat")
    assert (tmp_path / "s.splat").stat().st_size == 32 * len(scene)
    back = read_scene(tmp_path / "s.splat")
    back.validate()
    assert back.sh_degree == 0
    assert np.array_equal(back.means, scene.means)  # float32 positions are stored as is
    assert np.allclose(back.log_scales, scene.log_scales, atol=1e-5)
    assert np.allclose(back.colors(), scene.colors(), atol=0.5 / 255 + 1e-6)
    assert np.allclose(back.opacities(), scene.opacities(), atol=0.5 / 255 + 1e-4)
    unit = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    assert np.allclose(back.quats, unit, atol=0.5 / 128 + 1e-6)


def test_decodes_a_hand_packed_row(tmp_path):
    row = struct.pack("<3f3f4B4B", 1.0, -2.0, 3.5, 0.5, 0.25, 2.0, 255, 128, 0, 191, 255, 128, 128, 128)
    (tmp_path / "one.splat").write_bytes(row)
    scene = read_scene(tmp_path / "one.splat")
    assert np.array_equal(scene.means[0], [1.0, -2.0, 3.5])
    assert np.allclose(np.exp(scene.log_scales[0]), [0.5, 0.25, 2.0])
    assert np.allclose(0.5 + SH_C0 * scene.sh[0, 0], [1.0, 128 / 255, 0.0], atol=1e-6)
    assert np.allclose(scene.opacities()[0], 191 / 255, atol=1e-6)
    assert np.allclose(scene.quats[0], [127 / 128, 0, 0, 0])


def test_size_not_a_multiple_of_32(tmp_path):
    (tmp_path / "bad.splat").write_bytes(b"\x00" * 33)
    with pytest.raises(SplatFileError, match="bad.splat: .*not a multiple of 32"):
        read_scene(tmp_path / "bad.splat")


def test_empty_and_nonfinite(tmp_path):
    (tmp_path / "empty.splat").write_bytes(b"")
    with pytest.raises(SplatFileError, match="no splats"):
        read_scene(tmp_path / "empty.splat")
    scene = random_scene(n=4, degree=0)
    scene.means[1, 2] = np.nan
    write_scene(scene, tmp_path / "nan.splat")
    with pytest.raises(SplatFileError, match="1 of 4 splats"):
        read_scene(tmp_path / "nan.splat")
    assert len(read_scene(tmp_path / "nan.splat", nonfinite="drop")) == 3


def test_a_splat_file_is_read_as_splat_whatever_its_first_bytes(tmp_path):
    """A .splat starts with the raw float32 x of its first splat: bytes 1f 8b (gzip's magic) or
    PK (zip) there are chance, not a format."""
    from gs_enhancer_addon.core.io import detect_format

    scene = random_scene(n=3, degree=0)
    scene.means[0, 0] = np.frombuffer(b"\x1f\x8b\x00\x40", dtype="<f4")[0]  # a finite float starting 1f 8b
    write_scene(scene, tmp_path / "s.splat")
    assert (tmp_path / "s.splat").read_bytes()[:2] == b"\x1f\x8b"
    assert detect_format(tmp_path / "s.splat") == "splat"
    assert np.allclose(read_scene(tmp_path / "s.splat").means, scene.means, atol=1e-6)
