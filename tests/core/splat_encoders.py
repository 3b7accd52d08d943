"""Test-side encoders for .ksplat and SOG, written from the format descriptions independently of
the readers (loops and struct packing, not the readers' vectorised code), so a reader bug does not
cancel out. numpy + Pillow only."""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile

import numpy as np

from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene


def ksplat_bytes(scene: GaussianScene, level: int, bucket_size: int = 3, block: float = 20.0,
                 sh_range=(-1.5, 1.5)) -> bytes:
    """One section; level 0 full floats, 1 halves, 2 halves + uint8 SH. Buckets of `bucket_size`
    splats (the last one partial), centred on their first splat."""
    n, degree = len(scene), scene.sh_degree
    rest = 3 * ((degree + 1) ** 2 - 1)
    q_range = 32767
    full, remainder = divmod(n, bucket_size)
    partial = 1 if remainder else 0
    buckets = full + partial
    centres = [scene.means[b * bucket_size].astype(np.float64) for b in range(buckets)]
    header = bytearray(4096)
    header[0], header[1] = 0, 1
    struct.pack_into("<IIII", header, 4, 1, 1, n, n)
    struct.pack_into("<H", header, 20, level)
    struct.pack_into("<ff", header, 36, *sh_range)
    section = bytearray(1024)
    struct.pack_into("<IIIIfHxxIIIIH", section, 0, n, n, bucket_size, buckets, block, 12, q_range, 0, full,
                     partial, degree)
    storage = b"".join(struct.pack("<I", remainder) for _ in range(partial))
    storage += b"".join(struct.pack("<3f", *c) for c in centres)
    records = bytearray()
    for i in range(n):
        rgba = [int(round(min(max(0.5 + SH_C0 * scene.sh[i, 0, c], 0.0), 1.0) * 255)) for c in range(3)]
        rgba.append(int(round(1.0 / (1.0 + math.exp(-float(scene.opacity_logits[i]))) * 255)))
        scale = np.exp(scene.log_scales[i].astype(np.float64))
        sh_values = []
        for band in range(1, degree + 1):
            for c in range(3):
                for j in range(band * band, (band + 1) * (band + 1)):
                    sh_values.append(float(scene.sh[i, j, c]))
        if level == 0:
            records += struct.pack("<3f3f4f4B", *scene.means[i], *scale, *scene.quats[i], *rgba)
            records += struct.pack(f"<{rest}f", *sh_values)
        else:
            c = centres[i // bucket_size]
            pos = [int(round((scene.means[i, a] - c[a]) / (block / 2.0 / q_range) + q_range)) for a in range(3)]
            records += struct.pack("<3H3e4e4B", *pos, *scale, *scene.quats[i], *rgba)
            if level == 1:
                records += struct.pack(f"<{rest}e", *sh_values)
            else:
                lo, hi = sh_range
                records += bytes(int(round((v - lo) / (hi - lo) * 255)) for v in sh_values)
    return bytes(header) + bytes(section) + storage + bytes(records)


def _webp(pixels: np.ndarray) -> bytes:  # [H, W, 4] uint8
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buf, format="WEBP", lossless=True, exact=True)
    return buf.getvalue()


def _image(values: np.ndarray, width: int) -> np.ndarray:  # [n, 4] -> [H, W, 4], zero padded
    height = -(-len(values) // width)
    out = np.zeros((height * width, 4), dtype=np.uint8)
    out[:len(values)] = values
    return out.reshape(height, width, 4)


def _nearest(codebook: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.abs(values[..., None] - codebook).argmin(axis=-1).astype(np.uint8)


def sog_files(scene: GaussianScene, width: int = 4) -> dict[str, bytes]:
    """meta.json and its WebP images for a SOG v2 of `scene` (palette: one centroid per splat)."""
    n, k = len(scene), scene.sh.shape[1]
    v = np.sign(scene.means) * np.log1p(np.abs(scene.means))
    mins, maxs = v.min(axis=0), v.max(axis=0)
    q = np.round((v - mins) / np.where(maxs > mins, maxs - mins, 1.0) * 65535).astype(np.uint32)
    lo = np.zeros((n, 4), np.uint8)
    hi = np.zeros((n, 4), np.uint8)
    lo[:, :3], hi[:, :3], lo[:, 3], hi[:, 3] = q & 0xFF, q >> 8, 255, 255
    quats = np.zeros((n, 4), np.uint8)
    for i in range(n):
        unit = scene.quats[i] / np.linalg.norm(scene.quats[i])
        m = int(np.argmax(np.abs(unit)))
        unit = unit if unit[m] >= 0 else -unit
        others = [unit[j] for j in range(4) if j != m]
        quats[i, :3] = [int(round((o * math.sqrt(2) + 1.0) / 2.0 * 255)) for o in others]
        quats[i, 3] = 252 + m
    scale_book = np.linspace(scene.log_scales.min(), scene.log_scales.max(), 256).astype(np.float32)
    dc_book = np.linspace(scene.sh[:, 0].min(), scene.sh[:, 0].max(), 256).astype(np.float32)
    scales = np.zeros((n, 4), np.uint8)
    scales[:, :3], scales[:, 3] = _nearest(scale_book, scene.log_scales), 255
    sh0 = np.zeros((n, 4), np.uint8)
    sh0[:, :3] = _nearest(dc_book, scene.sh[:, 0])
    sh0[:, 3] = np.round(scene.opacities() * 255)
    files = {"means_l.webp": _webp(_image(lo, width)), "means_u.webp": _webp(_image(hi, width)),
             "quats.webp": _webp(_image(quats, width)), "scales.webp": _webp(_image(scales, width)),
             "sh0.webp": _webp(_image(sh0, width))}
    meta = {"version": 2, "count": n,
            "means": {"mins": mins.tolist(), "maxs": maxs.tolist(), "files": ["means_l.webp", "means_u.webp"]},
            "scales": {"codebook": scale_book.tolist(), "files": ["scales.webp"]},
            "quats": {"files": ["quats.webp"]},
            "sh0": {"codebook": dc_book.tolist(), "files": ["sh0.webp"]}}
    if k > 1:
        rest = k - 1
        book = np.linspace(scene.sh[:, 1:].min(), scene.sh[:, 1:].max(), 256).astype(np.float32)
        rows = -(-n // 64)
        centroids = np.zeros((rows, 64 * rest, 4), np.uint8)
        for i in range(n):
            for j in range(rest):
                centroids[i // 64, (i % 64) * rest + j, :3] = _nearest(book, scene.sh[i, j + 1])
                centroids[i // 64, (i % 64) * rest + j, 3] = 255
        labels = np.zeros((n, 4), np.uint8)
        labels[:, 0], labels[:, 1], labels[:, 3] = np.arange(n) & 0xFF, np.arange(n) >> 8, 255
        files["shN_centroids.webp"] = _webp(centroids)
        files["shN_labels.webp"] = _webp(_image(labels, width))
        meta["shN"] = {"count": n, "bands": scene.sh_degree, "codebook": book.tolist(),
                       "files": ["shN_centroids.webp", "shN_labels.webp"]}
    files["meta.json"] = json.dumps(meta).encode()
    return files


def write_sog_folder(folder, scene: GaussianScene) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sog_files(scene).items():
        (folder / name).write_bytes(data)


def write_sog_zip(path, scene: GaussianScene) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in sog_files(scene).items():
            archive.writestr(name, data)
