"""SuperSplat / PlayCanvas compressed .ply: decoded to within the format's quantization steps."""

from __future__ import annotations

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import SplatFileError
from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene
from gs_enhancer_addon.core.io.ply import read_ply


def random_scene(n: int, degree: int, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, 4))
    return GaussianScene(
        means=rng.uniform(-3, 3, (n, 3)).astype(np.float32),
        quats=(q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32),
        log_scales=rng.uniform(-5, -1, (n, 3)).astype(np.float32),
        opacity_logits=rng.uniform(-3, 3, n).astype(np.float32),
        sh=rng.uniform(-1, 1, (n, (degree + 1) ** 2, 3)).astype(np.float32),
    )


def pack_unorm(x: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(np.round(x * ((1 << bits) - 1)), 0, (1 << bits) - 1).astype(np.uint32)


def encode(scene: GaussianScene, path, color_bounds: bool = True) -> None:
    """An independent encoder written from the format description (256 splats per chunk)."""
    n = len(scene)
    chunks = -(-n // 256)
    chunk_of = np.arange(n) // 256
    rgb = 0.5 + SH_C0 * scene.sh[:, 0]

    def bounds(values):
        lo = np.stack([values[chunk_of == c].min(0) for c in range(chunks)])
        hi = np.stack([values[chunk_of == c].max(0) for c in range(chunks)])
        return lo, hi

    def pack_111011(values, lo, hi):
        t = (values - lo[chunk_of]) / np.maximum(hi - lo, 1e-12)[chunk_of]
        return (pack_unorm(t[:, 0], 11) << 21) | (pack_unorm(t[:, 1], 10) << 11) | pack_unorm(t[:, 2], 11)

    p_lo, p_hi = bounds(scene.means)
    s_lo, s_hi = bounds(scene.log_scales)
    c_lo, c_hi = bounds(rgb)
    q = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.sign(q[np.arange(n), largest])[:, None]
    others = np.stack([np.delete(q[i], largest[i]) for i in range(n)])
    abc = pack_unorm(others / np.sqrt(2) + 0.5, 10)
    rotation = (largest.astype(np.uint32) << 30) | (abc[:, 0] << 20) | (abc[:, 1] << 10) | abc[:, 2]
    t = (rgb - c_lo[chunk_of]) / np.maximum(c_hi - c_lo, 1e-12)[chunk_of] if color_bounds else rgb
    color = (pack_unorm(t[:, 0], 8) << 24) | (pack_unorm(t[:, 1], 8) << 16) | (pack_unorm(t[:, 2], 8) << 8) \
        | pack_unorm(scene.opacities(), 8)
    chunk_names = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "min_scale_x", "min_scale_y",
                   "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z"]
    chunk_table = [p_lo, p_hi, s_lo, s_hi]
    if color_bounds:
        chunk_names += ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
        chunk_table += [c_lo, c_hi]
    k = scene.sh.shape[1]
    rest = scene.sh[:, 1:].transpose(0, 2, 1).reshape(n, -1)
    sh_bytes = np.clip(np.round((rest + 4) * 255 / 8), 0, 255).astype(np.uint8)
    header = f"ply\nformat binary_little_endian 1.0\nelement chunk {chunks}\n"
    header += "".join(f"property float {name}\n" for name in chunk_names)
    header += f"element vertex {n}\n" + "".join(
        f"property uint {name}\n" for name in ("packed_position", "packed_rotation", "packed_scale", "packed_color"))
    if k > 1:
        header += f"element sh {n}\n" + "".join(f"property uchar f_rest_{i}\n" for i in range(rest.shape[1]))
    header += "end_header\n"
    with open(path, "wb") as f:
        f.write(header.encode())
        f.write(np.concatenate(chunk_table, axis=1).astype("<f4").tobytes())
        packed = np.stack([pack_111011(scene.means, p_lo, p_hi), rotation,
                           pack_111011(scene.log_scales, s_lo, s_hi), color], axis=1)
        f.write(packed.astype("<u4").tobytes())
        if k > 1:
            f.write(sh_bytes.tobytes())


@pytest.mark.parametrize("degree, color_bounds", [(0, True), (3, True), (1, False)])
def test_decodes_within_quantization(tmp_path, degree, color_bounds):
    scene = random_scene(600, degree)  # three chunks, the last one partial
    encode(scene, tmp_path / "c.compressed.ply", color_bounds)
    back = read_ply(tmp_path / "c.compressed.ply")
    back.validate()
    assert len(back) == 600 and back.sh_degree == degree
    extent = scene.means.max(0) - scene.means.min(0)
    assert np.all(np.abs(back.means - scene.means) <= extent / 1023 + 1e-5)
    assert np.all(np.abs(back.log_scales - scene.log_scales) <= 4.0 / 1023 + 1e-5)
    dots = np.abs(np.sum(back.quats * scene.quats, axis=1))
    assert np.all(dots > 0.999) and np.allclose(np.linalg.norm(back.quats, axis=1), 1, atol=1e-5)
    assert np.allclose(back.colors(), scene.colors(), atol=1.5 / 255 + 1e-3)
    assert np.allclose(back.opacities(), scene.opacities(), atol=1 / 255)
    if degree:
        assert np.allclose(back.sh[:, 1:], scene.sh[:, 1:], atol=4 / 255 + 1e-6)


def test_chunk_count_must_match(tmp_path):
    encode(random_scene(300, 0), tmp_path / "c.ply")
    data = (tmp_path / "c.ply").read_bytes().replace(b"element chunk 2", b"element chunk 5")
    (tmp_path / "c.ply").write_bytes(data)
    with pytest.raises(SplatFileError, match="declares 5 chunks for 300 splats"):
        read_ply(tmp_path / "c.ply")


def test_truncated_compressed_file(tmp_path):
    encode(random_scene(300, 1), tmp_path / "c.ply")
    data = (tmp_path / "c.ply").read_bytes()
    (tmp_path / "c.ply").write_bytes(data[:-100])
    with pytest.raises(SplatFileError, match="truncated"):
        read_ply(tmp_path / "c.ply")
