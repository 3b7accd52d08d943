"""Read speed of every splat format we read, and gsply (PyPI, numba) on the formats it reads, one run.

One seeded 1,000,000-splat SH-degree-3 scene is written, into a temporary folder, as:
INRIA .ply (ours), .splat (SH dropped: the format has none), SPZ v3 (gzip) and v4 (zstd) (ours),
.ksplat levels 0/1/2 and a SOG zip (built here with numpy + Pillow: we have no writer for those).
Then, interleaved over --repeats rounds so machine load hits all alike, `core.io.read_scene`
reads each one into a GaussianScene (NaN/Inf check included), and, where `gsply` imports,
`gsply.plyread` and `gsply.read_spz` read the same .ply and SPZ v3/v4 files (gsply's first call per
format is a numba compile: one warm-up read is made before timing).

gsply is not a project dependency: install it somewhere else and pass that folder, e.g.
    pip install --target /tmp/gsply_target gsply -c constraints.txt
    .venv/bin/python bench/bench_formats.py --extra-path /tmp/gsply_target
Run:  .venv/bin/python bench/bench_formats.py [--splats 1000000] [--repeats 3]
On a shared CPU machine compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene  # noqa: E402
from gs_enhancer_addon.core.io import read_scene, write_scene  # noqa: E402
from gs_enhancer_addon.core.io.ksplat import _record_dtype  # noqa: E402
from gs_enhancer_addon.core.io.spz import write_spz  # noqa: E402


def make_scene(n: int, degree: int) -> GaussianScene:
    rng = np.random.default_rng(0)
    k = (degree + 1) ** 2
    sh = rng.standard_normal((n, k, 3), dtype=np.float32)
    sh[:, 1:] *= 0.3
    return GaussianScene(
        means=(rng.standard_normal((n, 3), dtype=np.float32) * 3.0),
        quats=rng.standard_normal((n, 4), dtype=np.float32),
        log_scales=rng.uniform(-6, -1, (n, 3)).astype(np.float32),
        opacity_logits=rng.standard_normal(n, dtype=np.float32),
        sh=np.clip(sh, -1.0, 1.0),
    )


# ----------------------------------------------------------------- .ksplat and SOG builders (bench only)
def ksplat_bytes(scene: GaussianScene, level: int, bucket: int = 256) -> bytes:
    n, degree = len(scene), scene.sh_degree
    buckets = -(-n // bucket)
    full, partial = n // bucket, buckets - n // bucket
    centres = np.zeros((buckets, 3), np.float32)
    block = float(2.2 * np.abs(scene.means).max())  # every splat within +-block/2 of its (zero) centre
    head = bytearray(4096)
    head[1] = 1
    struct.pack_into("<IIIIH", head, 4, 1, 1, n, n, level)
    struct.pack_into("<ff", head, 36, -1.0, 1.0)
    section = bytearray(1024)
    struct.pack_into("<IIIIfHxxIIIIH", section, 0, n, n, bucket, buckets, block, 12, 32767, 0, full, partial, degree)
    rows = np.zeros(n, dtype=_record_dtype(level, degree))
    if level == 0:
        rows["position"] = scene.means
    else:
        rows["position"] = np.round(scene.means / (block / 2 / 32767) + 32767)
    rows["scale"] = np.exp(scene.log_scales)
    rows["rotation"] = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    rows["rgba"][:, :3] = np.round(scene.colors() * 255)
    rows["rgba"][:, 3] = np.round(scene.opacities() * 255)
    rest = np.concatenate([scene.sh[:, b * b:(b + 1) * (b + 1)].transpose(0, 2, 1).reshape(n, -1)
                           for b in range(1, degree + 1)], axis=1)
    rows["sh"] = np.round((rest + 1.0) / 2.0 * 255) if level == 2 else rest
    sizes = struct.pack("<I", n - full * bucket) if partial else b""
    return bytes(head) + bytes(section) + sizes + centres.tobytes() + rows.tobytes()


def _webp(rgba: np.ndarray, width: int = 1024) -> bytes:  # [n, 4] uint8
    from PIL import Image

    height = -(-len(rgba) // width)
    pixels = np.zeros((height * width, 4), np.uint8)
    pixels[:len(rgba)] = rgba
    buf = io.BytesIO()
    Image.fromarray(pixels.reshape(height, width, 4), "RGBA").save(buf, "WEBP", lossless=True, method=0, exact=True)
    return buf.getvalue()


def _codes(values: np.ndarray, book: np.ndarray) -> np.ndarray:
    return np.clip(np.round((values - book[0]) / (book[-1] - book[0]) * 255), 0, 255).astype(np.uint8)


def sog_bytes(scene: GaussianScene) -> bytes:
    n, rest = len(scene), scene.sh.shape[1] - 1
    v = np.sign(scene.means) * np.log1p(np.abs(scene.means))
    mins, maxs = v.min(axis=0), v.max(axis=0)
    q = np.round((v - mins) / (maxs - mins) * 65535).astype(np.uint32)
    opaque = np.full((n, 1), 255, np.uint8)
    unit = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    largest = np.abs(unit).argmax(axis=1)
    unit = np.where(unit[np.arange(n), largest][:, None] < 0, -unit, unit)
    others = np.take_along_axis(unit, np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest], axis=1)
    quats = np.concatenate([np.round((others * np.sqrt(2) + 1) / 2 * 255).astype(np.uint8),
                            (252 + largest)[:, None].astype(np.uint8)], axis=1)
    scale_book = np.linspace(-6, -1, 256, dtype=np.float32)
    dc_book = np.linspace(scene.sh[:, 0].min(), scene.sh[:, 0].max(), 256, dtype=np.float32)
    rest_book = np.linspace(-1, 1, 256, dtype=np.float32)
    palette = min(n, 65536)
    centroids = np.zeros((-(-palette // 64) * 64, rest, 4), np.uint8)  # whole rows of 64 centroids
    centroids[:palette, :, :3], centroids[:palette, :, 3] = _codes(scene.sh[:palette, 1:], rest_book), 255
    labels = np.arange(n) % palette
    files = {
        "means_l.webp": _webp(np.concatenate([(q & 0xFF).astype(np.uint8), opaque], axis=1)),
        "means_u.webp": _webp(np.concatenate([(q >> 8).astype(np.uint8), opaque], axis=1)),
        "quats.webp": _webp(quats),
        "scales.webp": _webp(np.concatenate([_codes(scene.log_scales, scale_book), opaque], axis=1)),
        "sh0.webp": _webp(np.concatenate([_codes(scene.sh[:, 0], dc_book),
                                          np.round(scene.opacities() * 255).astype(np.uint8)[:, None]], axis=1)),
        "shN_centroids.webp": _webp(centroids.reshape(-1, 4), width=64 * rest),
        "shN_labels.webp": _webp(np.stack([labels & 0xFF, labels >> 8, labels * 0, labels * 0 + 255], 1).astype(np.uint8)),
    }
    meta = {"version": 2, "count": n,
            "means": {"mins": mins.tolist(), "maxs": maxs.tolist(), "files": ["means_l.webp", "means_u.webp"]},
            "scales": {"codebook": scale_book.tolist(), "files": ["scales.webp"]}, "quats": {"files": ["quats.webp"]},
            "sh0": {"codebook": dc_book.tolist(), "files": ["sh0.webp"]},
            "shN": {"count": palette, "bands": scene.sh_degree, "codebook": rest_book.tolist(),
                    "files": ["shN_centroids.webp", "shN_labels.webp"]}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("meta.json", json.dumps(meta))
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


# ----------------------------------------------------------------- timing
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splats", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra-path", default=None, help="a folder holding gsply (pip install --target)")
    args = parser.parse_args()
    if args.extra_path:
        sys.path.append(args.extra_path)
    try:
        import gsply
    except ImportError:
        gsply = None

    scene = make_scene(args.splats, args.degree)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"ply": tmp / "s.ply", "splat (SH 0)": tmp / "s.splat", "spz v3 (gzip)": tmp / "s.spz",
                 "spz v4 (zstd)": tmp / "s4.spz", "ksplat level 0": tmp / "s0.ksplat",
                 "ksplat level 1": tmp / "s1.ksplat", "ksplat level 2": tmp / "s2.ksplat", "sog (zip)": tmp / "s.sog"}
        write_scene(scene, files["ply"])
        write_scene(scene, files["splat (SH 0)"])
        write_spz(scene, files["spz v3 (gzip)"], version=3)
        write_spz(scene, files["spz v4 (zstd)"], version=4)
        for level in range(3):
            files[f"ksplat level {level}"].write_bytes(ksplat_bytes(scene, level))
        files["sog (zip)"].write_bytes(sog_bytes(scene))
        jobs = {f"ours: {name}": (lambda p=path: read_scene(p)) for name, path in files.items()}
        if gsply is not None:
            jobs["gsply.plyread: ply"] = lambda: gsply.plyread(str(files["ply"]))
            jobs["gsply.read_spz: spz v3"] = lambda: gsply.read_spz(str(files["spz v3 (gzip)"]))
            jobs["gsply.read_spz: spz v4"] = lambda: gsply.read_spz(str(files["spz v4 (zstd)"]))
            for name in [n for n in jobs if n.startswith("gsply")]:
                jobs[name]()  # numba compile
        times = {name: [] for name in jobs}
        for _ in range(args.repeats):
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - start)
        sizes = {f"ours: {name}": path.stat().st_size for name, path in files.items()}
        sizes["gsply.plyread: ply"] = files["ply"].stat().st_size
        sizes["gsply.read_spz: spz v3"] = files["spz v3 (gzip)"].stat().st_size
        sizes["gsply.read_spz: spz v4"] = files["spz v4 (zstd)"].stat().st_size

    print(f"{args.splats:,} splats, SH degree {args.degree}, median of {args.repeats}; "
          f"gsply {getattr(gsply, '__version__', 'not installed') if gsply else 'not installed'}")
    base = statistics.median(times["ours: ply"])
    print(f"{'reader: file':28s} {'MB':>8s} {'seconds':>8s} {'vs ours ply':>12s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28s} {sizes[name] / 1e6:8.1f} {median:8.3f} {median / base:11.2f}x")
    pairs = [("ply", "ours: ply", "gsply.plyread: ply"), ("spz v3", "ours: spz v3 (gzip)", "gsply.read_spz: spz v3"),
             ("spz v4", "ours: spz v4 (zstd)", "gsply.read_spz: spz v4")]
    for label, ours, theirs in pairs:
        if theirs in times:
            print(f"ours / gsply, {label}: {statistics.median(times[ours]) / statistics.median(times[theirs]):.2f} "
                  "(below 1: ours faster)")


if __name__ == "__main__":
    main()
