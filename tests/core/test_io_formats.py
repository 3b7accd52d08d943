"""SPZ, .ksplat and SOG: the public fixtures, one scene through every format, round trips, errors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import SplatFileError
from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.geometry import sh_basis
from gs_enhancer_addon.core.io import detect_format, read_scene, write_scene
from gs_enhancer_addon.core.io.frames import SH_SIGNS_FLIP_YZ, flip_yz
from gs_enhancer_addon.core.io.ksplat import read_ksplat
from gs_enhancer_addon.core.io.spz import read_spz, write_spz
from tests.builders import random_scene

from .splat_encoders import ksplat_bytes, write_sog_folder, write_sog_zip

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "splats"


def covariances(scene: GaussianScene) -> np.ndarray:  # [N, 3, 3]
    q = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    w, x, y, z = q.T.astype(np.float64)
    r = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                  2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                  2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1).reshape(-1, 3, 3)
    s2 = np.exp(2.0 * scene.log_scales.astype(np.float64))
    return r @ (s2[:, :, None] * r.transpose(0, 2, 1))


def assert_same_gaussians(a: GaussianScene, b: GaussianScene, *, pos=1e-6, log_scale=1e-6, opacity=1e-6,
                          color=1e-6, cov=1e-6, sh=1e-6) -> None:
    """Same Gaussians as geometry and appearance (quaternion sign/representation free)."""
    assert len(a) == len(b) and a.sh_degree == b.sh_degree
    np.testing.assert_allclose(a.means, b.means, atol=pos)
    np.testing.assert_allclose(a.log_scales, b.log_scales, atol=log_scale)
    np.testing.assert_allclose(a.opacities(), b.opacities(), atol=opacity)
    np.testing.assert_allclose(a.colors(), b.colors(), atol=color)
    largest = np.exp(2.0 * b.log_scales.astype(np.float64)).max(axis=1)[:, None, None]  # relative to the largest variance
    np.testing.assert_allclose(covariances(a) / largest, covariances(b) / largest, atol=cov)
    np.testing.assert_allclose(a.sh[:, 1:], b.sh[:, 1:], atol=sh)


# ------------------------------------------------------------------------- the public fixtures
def test_same_scene_from_every_format():
    """splat-transform's minimal scene as .splat, .ksplat, SPZ v3 and SPZ v4 (independent writers)."""
    reference = read_scene(FIXTURES / "st_minimal.splat")
    np.testing.assert_array_equal(reference.means, [[-1, 0, -1], [0, 0, -1], [-1, 0, 0], [0, 0, 0]])
    tolerance = dict(pos=2 ** -12, log_scale=1 / 32, opacity=1 / 255, color=0.6 / 255, cov=0.03)  # SPZ log-scale steps of 1/16
    for name in ("st_minimal.ksplat", "st_minimal-v3.spz", "st_minimal-v4.spz"):
        scene = read_scene(FIXTURES / name)
        assert_same_gaussians(scene, reference, **tolerance)
        assert not scene.antialiased
    assert detect_format(FIXTURES / "st_minimal.ksplat") == "ksplat"
    assert detect_format(FIXTURES / "st_minimal-v4.spz") == detect_format(FIXTURES / "st_minimal-v2.spz") == "spz"


def test_hand_written_v2_fixtures_decode_to_what_their_bytes_say():
    """st_minimal-raw/-v2.spz were written by hand in the .splat frame with plain RGB bytes as colours
    (see the fixtures README): read by the SPZ specification, z comes out mirrored and the colour
    bytes mean dc = (byte / 255 - 0.5) / 0.15."""
    raw, gz = read_scene(FIXTURES / "st_minimal-raw.spz"), read_scene(FIXTURES / "st_minimal-v2.spz")
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        np.testing.assert_array_equal(getattr(raw, name), getattr(gz, name))
    reference = read_scene(FIXTURES / "st_minimal.splat")
    np.testing.assert_allclose(raw.means, reference.means * [1, -1, -1], atol=2 ** -8)
    color_bytes = np.array([[85, 85, 128], [170, 85, 128], [85, 170, 128], [170, 170, 128]])
    np.testing.assert_allclose(raw.sh[:, 0], (color_bytes / 255 - 0.5) / 0.15, atol=1e-5)
    w = np.sqrt(1 - 3 / 255 ** 2)  # byte 128 = +1/255, w >= 0 restores unit length
    np.testing.assert_allclose(raw.quats, [[w, 1 / 255, -1 / 255, -1 / 255]] * 4, atol=1e-6)


def test_sanity_splats_sh3():
    """Adobe's 10-splat SPZ v2 with SH degree 3, decoded by the specification."""
    scene = read_scene(FIXTURES / "SanitySplats.spz")
    assert len(scene) == 10 and scene.sh_degree == 3
    payload = gzip.decompress((FIXTURES / "SanitySplats.spz").read_bytes())
    magic, version, n, degree, bits, flags, _ = struct.unpack_from("<4sIIBBBB", payload)
    assert (magic, version, n, degree, bits, flags) == (b"NGSP", 2, 10, 3, 12, 0)
    sh_bytes = np.frombuffer(payload[16 + 10 * (9 + 1 + 3 + 3 + 3):], np.uint8).reshape(10, 15, 3)
    expected = (sh_bytes - 128.0) / 128.0 * SH_SIGNS_FLIP_YZ[1:, None]
    np.testing.assert_allclose(scene.sh[:, 1:], expected, atol=1e-7)
    fixed = np.frombuffer(payload[16:16 + 90], np.uint8).reshape(10, 3, 3).astype(np.int64)
    value = fixed[..., 0] | fixed[..., 1] << 8 | fixed[..., 2] << 16
    value = np.where(value >= 1 << 23, value - (1 << 24), value) / 4096.0
    np.testing.assert_allclose(scene.means, value * [1, -1, -1], atol=1e-7)


# ------------------------------------------------------------------------- frames
def test_sh_sign_table_matches_the_basis():
    dirs = np.random.default_rng(0).standard_normal((50, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    np.testing.assert_allclose(sh_basis(dirs * [1, -1, -1]), sh_basis(dirs) * SH_SIGNS_FLIP_YZ, atol=1e-12)


def test_flip_yz_is_a_change_of_frame():
    """Converting RDF -> RUB and back is the identity, and the view-dependent colour of a splat
    seen from direction d in RDF equals that seen from S d in RUB."""
    scene = random_scene(20, degree=3, seed=1)
    back = flip_yz(flip_yz(scene))
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        np.testing.assert_array_equal(getattr(back, name), getattr(scene, name))
    rub = flip_yz(scene)
    d = np.array([[0.3, -0.5, 0.81]])
    d /= np.linalg.norm(d)
    rdf_color = np.einsum("k,nkc->nc", sh_basis(d)[0], scene.sh)
    rub_color = np.einsum("k,nkc->nc", sh_basis(d * [1, -1, -1])[0], rub.sh)
    np.testing.assert_allclose(rdf_color, rub_color, atol=1e-5)
    np.testing.assert_allclose(covariances(rub), covariances(scene) * np.outer([1, -1, -1], [1, -1, -1]), atol=1e-9)


# ------------------------------------------------------------------------- SPZ
def quantizable_scene(n=50, degree=3, seed=0) -> GaussianScene:
    scene = random_scene(n, degree=degree, seed=seed)
    scene.sh[:, 0] = np.clip(scene.sh[:, 0], -3.0, 3.0)
    scene.sh[:, 1:] = np.clip(scene.sh[:, 1:] * 0.3, -0.99, 0.99)
    scene.opacity_logits[:] = np.clip(scene.opacity_logits, -4, 4)
    return scene


SPZ_TOLERANCE = dict(pos=2 ** -13 + 1e-6, log_scale=1 / 32 + 1e-6, opacity=0.5 / 255 + 1e-6, color=0.5 / (0.15 * 255) * 0.29,
                     cov=0.08, sh=0.5 / 128 + 1e-6)


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_spz_round_trip(tmp_path, version, degree):
    scene = quantizable_scene(degree=degree)
    write_spz(scene, tmp_path / "a.spz", version=version)
    back = read_scene(tmp_path / "a.spz")
    assert_same_gaussians(back, scene, **SPZ_TOLERANCE)
    np.testing.assert_allclose(back.sh[:, 0], scene.sh[:, 0], atol=0.5 / (0.15 * 255) + 1e-6)
    head = (tmp_path / "a.spz").read_bytes()[:4]
    assert head == (b"NGSP" if version == 4 else b"\x1f\x8b\x08\x00")


def test_spz_write_scene_and_the_antialiased_flag(tmp_path):
    scene = quantizable_scene(degree=1)
    scene.antialiased = True
    write_scene(scene, tmp_path / "b.spz")
    back = read_scene(tmp_path / "b.spz")
    assert back.antialiased
    payload = gzip.decompress((tmp_path / "b.spz").read_bytes())
    assert struct.unpack_from("<4sIIBBBB", payload)[:6] == (b"NGSP", 3, 50, 1, 12, 1)


def test_spz_fractional_bits_follow_the_extent(tmp_path):
    scene = quantizable_scene(degree=0)
    scene.means[0] = [5000.0, -3.0, 1.0]  # past +-2048: 12 bits no longer fit in 24
    write_spz(scene, tmp_path / "far.spz")
    bits = gzip.decompress((tmp_path / "far.spz").read_bytes())[13]
    assert bits == 10
    np.testing.assert_allclose(read_scene(tmp_path / "far.spz").means, scene.means, atol=2 ** -11)
    scene.means[0] = [1e8, 0, 0]
    with pytest.raises(SplatFileError, match="8.4 million"):
        write_spz(scene, tmp_path / "too_far.spz")
    assert not (tmp_path / "too_far.spz").exists()


def spz_payload(version: int, n: int, degree: int, flags: int = 0, bits: int = 12, rng=None) -> bytes:
    rng = rng or np.random.default_rng(3)
    header = struct.pack("<4sIIBBBB", b"NGSP", version, n, degree, bits, flags, 0)
    position_bytes = n * 3 * (2 if version == 1 else 3)
    if version == 1:
        positions = rng.uniform(-4, 4, (n, 3)).astype("<f2").tobytes()
    else:
        positions = rng.integers(0, 256, position_bytes, dtype=np.uint8).tobytes()
    rest = rng.integers(0, 256, n * (1 + 3 + 3) + n * (3 if version < 3 else 4) + n * ((degree + 1) ** 2 - 1) * 3,
                        dtype=np.uint8).tobytes()
    return header + positions + rest


def test_spz_v1_half_float_positions_and_first_three_rotations(tmp_path):
    data = spz_payload(1, 6, 1)
    (tmp_path / "v1.spz").write_bytes(gzip.compress(data))
    scene = read_scene(tmp_path / "v1.spz")
    halves = np.frombuffer(data[16:16 + 36], "<f2").reshape(6, 3).astype(np.float32)
    np.testing.assert_array_equal(scene.means, halves * [1, -1, -1])
    rot = np.frombuffer(data[16 + 36 + 6 + 18 + 18:16 + 36 + 6 + 18 + 18 + 18], np.uint8).reshape(6, 3) / 127.5 - 1
    np.testing.assert_allclose(scene.quats[:, 1:], rot * [1, -1, -1], atol=1e-6)
    np.testing.assert_allclose(scene.quats[:, 0], np.sqrt(np.clip(1 - (rot ** 2).sum(1), 0, None)), atol=1e-6)


def test_spz_smallest_three_against_hand_packed_values(tmp_path):
    """0xC0000000 is the identity; a 45 degree turn about z packs x, y = 0 and z = sin(22.5) as the
    lowest 10 bits with w largest (index 3); a negative y in the middle group sets its sign bit."""
    z_mag = int(round(np.sin(np.pi / 8) / np.sqrt(0.5) * 511))
    words = [0xC0000000, (3 << 30) | z_mag, (3 << 30) | ((0x200 | 100) << 10)]
    data = struct.pack("<4sIIBBBB", b"NGSP", 3, 3, 0, 12, 0, 0) + bytes(9 * 3 + 3 + 9 + 9) + struct.pack("<3I", *words)
    (tmp_path / "q.spz").write_bytes(data)
    q = read_scene(tmp_path / "q.spz").quats  # wxyz in RDF: y and z flip sign
    np.testing.assert_allclose(q[0], [1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(q[1], [np.cos(np.pi / 8), 0, 0, -np.sin(np.pi / 8)], atol=2e-3)
    y = 100 / 511 * np.sqrt(0.5)
    np.testing.assert_allclose(q[2], [np.sqrt(1 - y * y), 0, y, 0], atol=1e-6)


def test_spz_degree_4_keeps_bands_0_to_3(tmp_path):
    data = spz_payload(3, 5, 4)
    (tmp_path / "d4.spz").write_bytes(gzip.compress(data))
    scene = read_scene(tmp_path / "d4.spz")
    assert scene.sh_degree == 3
    sh = np.frombuffer(data[len(data) - 5 * 24 * 3:], np.uint8).reshape(5, 24, 3)[:, :15]
    np.testing.assert_allclose(scene.sh[:, 1:], (sh - 128.0) / 128.0 * SH_SIGNS_FLIP_YZ[1:, None], atol=1e-7)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:4] + struct.pack("<I", 7) + d[8:], "SPZ version 7 is not supported"),
    (lambda d: d[:14] + b"\x02" + d[15:], "extensions"),
    (lambda d: d[:14] + b"\x80" + d[15:], "unknown features"),
    (lambda d: d[:12] + b"\x05" + d[13:], "SH degree 5 is not supported"),
    (lambda d: d[:8] + struct.pack("<I", 0) + d[12:], "no splats"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:8] + struct.pack("<I", 4_000_000) + d[12:], "damaged|truncated"),
])
def test_spz_errors_name_the_problem(tmp_path, mutate, message):
    data = mutate(spz_payload(3, 8, 1))
    for name, blob in (("raw.spz", data), ("gz.spz", gzip.compress(data))):
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(SplatFileError, match=message):
            read_spz(tmp_path / name)


def test_spz_v4_errors(tmp_path):
    good = (FIXTURES / "st_minimal-v4.spz").read_bytes()
    cases = {
        "streams": good[:15] + b"\x06" + good[16:],
        "holds": good[:40] + struct.pack("<Q", 37) + good[48:],
        "truncated": good[:-5],
        "lies outside": good[:16] + struct.pack("<I", 10_000) + good[20:],
    }
    for message, blob in cases.items():
        (tmp_path / "bad.spz").write_bytes(blob)
        with pytest.raises(SplatFileError, match=message):
            read_spz(tmp_path / "bad.spz")
    (tmp_path / "gz4.spz").write_bytes(gzip.compress(good))
    with pytest.raises(SplatFileError, match="version 4 in a gzip container"):
        read_spz(tmp_path / "gz4.spz")
    (tmp_path / "notspz.spz").write_bytes(gzip.compress(b"hello world, not a splat file"))
    with pytest.raises(SplatFileError, match="not an SPZ"):
        read_spz(tmp_path / "notspz.spz")


# ------------------------------------------------------------------------- .ksplat
@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_ksplat_levels(tmp_path, level, degree):
    scene = quantizable_scene(n=11, degree=degree, seed=level)
    scene.sh[:, 1:] = np.clip(scene.sh[:, 1:], -1.5, 1.5)
    (tmp_path / "a.ksplat").write_bytes(ksplat_bytes(scene, level))
    back = read_ksplat(tmp_path / "a.ksplat")
    tolerance = dict(opacity=0.5 / 255 + 1e-6, color=0.5 / 255 + 1e-6, pos=1e-6, log_scale=1e-6, cov=1e-6, sh=1e-6)
    if level > 0:  # positions: half a step of block / 2 / 32767; scales, rotations (and level-1 SH): float16
        tolerance.update(pos=20.0 / 2 / 32767 * 0.51 + 1e-6, log_scale=1e-3, cov=2e-3, sh=2e-3)
    if level == 2:  # SH: half a step of (max - min) / 255
        tolerance["sh"] = 3.0 / 255 * 0.5 + 1e-6
    assert_same_gaussians(back, scene, **tolerance)


def test_ksplat_errors(tmp_path):
    scene = quantizable_scene(n=7, degree=1)
    good = ksplat_bytes(scene, 1)
    cases = {
        "version 1.1 is not supported": b"\x01" + good[1:],
        "compression level 3": good[:20] + b"\x03\x00" + good[22:],
        "truncated or damaged": good[:-3],
        "header claims 8": good[:16] + struct.pack("<I", 8) + good[20:],
        "sections": good[:4] + struct.pack("<I", 10_000_000) + good[8:],
        "4096-byte header": good[:100],
    }
    for message, blob in cases.items():
        (tmp_path / "bad.ksplat").write_bytes(blob)
        with pytest.raises(SplatFileError, match=message):
            read_scene(tmp_path / "bad.ksplat")


# ------------------------------------------------------------------------- SOG
def test_sog_folder_zip_and_meta_json(tmp_path):
    pytest.importorskip("PIL.WebPImagePlugin")
    scene = quantizable_scene(n=70, degree=3, seed=4)  # 70 > 64: two centroid rows
    write_sog_folder(tmp_path / "folder", scene)
    write_sog_zip(tmp_path / "scene.sog", scene)
    span = lambda a: float(a.max() - a.min())  # noqa: E731
    v = np.log1p(np.abs(scene.means))
    tolerance = dict(pos=float(np.expm1(v.max()) - np.expm1(v.max() - span(v) / 65535)) + 1e-5,
                     log_scale=span(scene.log_scales) / 255 * 0.51, opacity=0.5 / 255 + 1e-6,
                     color=SH_C0_ROUND * span(scene.sh[:, 0]) / 255, cov=0.05, sh=span(scene.sh[:, 1:]) / 255 * 0.51)
    for path in (tmp_path / "folder", tmp_path / "folder" / "meta.json", tmp_path / "scene.sog"):
        assert detect_format(path) == "sog"
        assert_same_gaussians(read_scene(path), scene, **tolerance)


SH_C0_ROUND = 0.2821 * 0.51


def test_sog_errors(tmp_path):
    pytest.importorskip("PIL.WebPImagePlugin")
    import json

    scene = quantizable_scene(n=5, degree=1)
    write_sog_folder(tmp_path / "s", scene)
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    for edit, message in [
        (lambda m: m.pop("version"), "legacy SOG"),
        (lambda m: m.update(version=3), "SOG version 3"),
        (lambda m: m.update(count=500), "pixels for 500 splats"),
        (lambda m: m["scales"].update(codebook=[0.0] * 3), "256 are expected"),
        (lambda m: m["means"]["files"].__setitem__(0, "../elsewhere.webp"), "not a file beside it"),
        (lambda m: m["quats"].pop("files"), "wrong entries"),
        (lambda m: m["shN"].update(count=2), "palette holds 2"),
    ]:
        broken = json.loads(json.dumps(meta))
        edit(broken)
        (tmp_path / "s" / "meta.json").write_text(json.dumps(broken))
        with pytest.raises(SplatFileError, match=message):
            read_scene(tmp_path / "s")
    (tmp_path / "s" / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "s" / "quats.webp").write_bytes(b"RIFF0000WEBPgarbage")
    with pytest.raises(SplatFileError, match="cannot be decoded"):
        read_scene(tmp_path / "s")
    (tmp_path / "bad.sog").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SplatFileError, match="zip archive"):
        read_scene(tmp_path / "bad.sog")


def test_missing_optional_packages_are_named(tmp_path, monkeypatch):
    """SOG needs Pillow and SPZ v4 needs zstandard: without them the error says which package."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "meta.json").write_text('{"version": 2, "count": 1, "means": {"files": ["a.webp", "b.webp"], '
                                              '"mins": [0, 0, 0], "maxs": [1, 1, 1]}}')
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    monkeypatch.setitem(__import__("sys").modules, "zstandard", None)
    with pytest.raises(SplatFileError, match="need the Pillow package"):
        read_scene(tmp_path / "s")
    with pytest.raises(SplatFileError, match="needs the 'zstandard' Python package"):
        read_scene(FIXTURES / "st_minimal-v4.spz")
    with pytest.raises(SplatFileError, match="zstandard"):
        write_spz(quantizable_scene(n=3), tmp_path / "x.spz", version=4)
    assert not (tmp_path / "x.spz").exists()


def test_spz_against_gsply(tmp_path):
    """An independent SPZ codec (gsply, PyPI, not a project dependency: run with gsply on sys.path,
    e.g. `pip install --target DIR gsply` and PYTHONPATH=DIR). gsply keeps SPZ's RUB frame, so its
    arrays are ours after flip_yz; its files (v3 and v4) must read back in ours, ours in its."""
    gsply = pytest.importorskip("gsply")

    def as_scene(g) -> GaussianScene:
        rest = np.zeros((len(g.means), 0, 3)) if g.shN is None else g.shN.reshape(len(g.means), -1, 3)
        sh = np.concatenate([g.sh0[:, None, :], rest], axis=1)
        return flip_yz(GaussianScene(g.means.astype(np.float32), g.quats.astype(np.float32),
                                     g.scales.astype(np.float32), g.opacities.astype(np.float32), sh.astype(np.float32)))

    for name in ("st_minimal-v3.spz", "st_minimal-v4.spz", "SanitySplats.spz"):
        assert_same_gaussians(read_scene(FIXTURES / name), as_scene(gsply.read_spz(FIXTURES / name)),
                              opacity=1e-5, cov=1e-5, color=1e-6, sh=1e-6, pos=1e-6, log_scale=1e-6)
    scene = quantizable_scene(n=40, degree=3)
    for version in (3, 4):
        write_spz(scene, tmp_path / f"ours{version}.spz", version=version)
        assert_same_gaussians(as_scene(gsply.read_spz(tmp_path / f"ours{version}.spz")),
                              read_scene(tmp_path / f"ours{version}.spz"), opacity=1e-5, cov=1e-5, pos=1e-6,
                              log_scale=1e-6, color=1e-6, sh=1e-6)
        rub = flip_yz(scene)
        g = gsply.GSData(means=rub.means, scales=rub.log_scales, quats=rub.quats, opacities=rub.opacity_logits,
                         sh0=rub.sh[:, 0].copy(), shN=np.ascontiguousarray(rub.sh[:, 1:]))
        gsply.write_spz(tmp_path / f"theirs{version}.spz", g, version=version)
        assert_same_gaussians(read_scene(tmp_path / f"theirs{version}.spz"), scene, **SPZ_TOLERANCE)
