"""SuperSplat / PlayCanvas compressed .ply: chunks of 256 splats with per-chunk quantization.

Layout (PlayCanvas engine, `GSplatCompressedData`): element `chunk` (12 or 18 floats: position
min/max, log-scale min/max, optional color min/max), element `vertex` with four uint32 words
(packed_position 11-10-11, packed_rotation 2+10+10+10 "largest component dropped",
packed_scale 11-10-11, packed_color RGBA 8-8-8-8) and an optional element `sh` with 9, 24 or 45
uchar coefficients per splat (channel-major, value * 8 / 255 - 4).
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from ..errors import SplatFileError
from ..gaussians import SH_C0, GaussianScene
from .ply_header import PlyHeader, read_binary_elements

CHUNK_SIZE = 256
PACKED = ("packed_position", "packed_rotation", "packed_scale", "packed_color")
CHUNK_BOUNDS = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
                "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z")
CHUNK_COLORS = ("min_r", "min_g", "min_b", "max_r", "max_g", "max_b")
SH_COUNTS = {9: 4, 24: 9, 45: 16}  # uchar coefficients per splat -> K


def is_compressed(header: PlyHeader) -> bool:
    vertex = header.element("vertex")
    return header.element("chunk") is not None and vertex is not None and "packed_position" in vertex.names()


def decode(f: BinaryIO, path, header: PlyHeader, size: int) -> GaussianScene:
    chunk_el, vertex_el, sh_el = header.element("chunk"), header.element("vertex"), header.element("sh")
    _check_layout(path, header)
    if vertex_el.count == 0:
        raise SplatFileError(path, "the file contains no splats (the vertex count is 0).")
    wanted = {"chunk", "vertex"} | ({"sh"} if sh_el is not None else set())
    data = read_binary_elements(f, path, header, size, wanted)
    chunks = _chunk_table(data["chunk"], chunk_el.names())
    chunk_of = np.arange(vertex_el.count) // CHUNK_SIZE
    rows = data["vertex"]
    lo_hi = chunks[chunk_of]  # [N, 12 or 18]
    means = _lerp(_unpack_111011(rows["packed_position"]), lo_hi[:, 0:3], lo_hi[:, 3:6])
    log_scales = _lerp(_unpack_111011(rows["packed_scale"]), lo_hi[:, 6:9], lo_hi[:, 9:12])
    rgba = _unpack_8888(rows["packed_color"])
    rgb = _lerp(rgba[:, :3], lo_hi[:, 12:15], lo_hi[:, 15:18]) if chunks.shape[1] == 18 else rgba[:, :3]
    alpha = rgba[:, 3]
    with np.errstate(divide="ignore"):
        opacity = np.where(alpha <= 0, -40.0, np.where(alpha >= 1, 40.0, -np.log(1.0 / alpha - 1.0)))
    k = 1 if sh_el is None else SH_COUNTS[len(sh_el.properties)]
    sh = np.zeros((vertex_el.count, k, 3), dtype=np.float32)
    sh[:, 0] = (rgb - 0.5) / SH_C0
    if k > 1:
        coeffs = data["sh"].view(np.uint8).reshape(vertex_el.count, 3, k - 1).astype(np.float32) * (8.0 / 255.0) - 4.0
        sh[:, 1:] = coeffs.transpose(0, 2, 1)
    return GaussianScene(
        means=means.astype(np.float32),
        quats=_unpack_rotation(rows["packed_rotation"]),
        log_scales=log_scales.astype(np.float32),
        opacity_logits=opacity.astype(np.float32),
        sh=sh,
    )


def _check_layout(path, header: PlyHeader) -> None:
    if header.encoding != "binary_little_endian":
        raise SplatFileError(path, "a compressed splat .ply must be binary little-endian.")
    chunk_el, vertex_el, sh_el = header.element("chunk"), header.element("vertex"), header.element("sh")
    missing = [n for n in (*CHUNK_BOUNDS,) if n not in chunk_el.names()]
    missing += [n for n in PACKED if n not in vertex_el.names()]
    if missing:
        raise SplatFileError(path, f"compressed splat .ply lacks the properties {', '.join(missing)}.")
    if any(p.dtype != "f4" for p in chunk_el.properties) or any(
            vertex_el.properties[vertex_el.names().index(n)].dtype != "u4" for n in PACKED):
        raise SplatFileError(path, "compressed splat .ply has unexpected property types "
                                   "(chunk bounds must be float, packed values uint).")
    expected_chunks = -(-vertex_el.count // CHUNK_SIZE)
    if chunk_el.count != expected_chunks:
        raise SplatFileError(path, f"compressed splat .ply declares {chunk_el.count} chunks for "
                                   f"{vertex_el.count} splats; expected {expected_chunks} (256 splats per chunk).")
    if sh_el is not None:
        if sh_el.count != vertex_el.count or len(sh_el.properties) not in SH_COUNTS or any(
                p.dtype != "u1" for p in sh_el.properties):
            raise SplatFileError(path, "the compressed 'sh' element must hold 9, 24 or 45 uchar values for "
                                       "every splat.")


def _chunk_table(rows: np.ndarray, names: list[str]) -> np.ndarray:  # [C, 12 or 18] float64
    wanted = CHUNK_BOUNDS + (CHUNK_COLORS if all(n in names for n in CHUNK_COLORS) else ())
    return np.stack([rows[n].astype(np.float64) for n in wanted], axis=1)


def _lerp(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo * (1.0 - t) + hi * t


def _unpack_111011(v: np.ndarray) -> np.ndarray:  # [N, 3] in [0, 1]
    v = v.astype(np.uint32)
    return np.stack([((v >> 21) & 0x7FF) / 2047.0, ((v >> 11) & 0x3FF) / 1023.0, (v & 0x7FF) / 2047.0], axis=1)


def _unpack_8888(v: np.ndarray) -> np.ndarray:  # [N, 4] in [0, 1]
    v = v.astype(np.uint32)
    return np.stack([((v >> s) & 0xFF) / 255.0 for s in (24, 16, 8, 0)], axis=1)


def _unpack_rotation(v: np.ndarray) -> np.ndarray:  # [N, 4] wxyz float32
    """2-bit index of the dropped (largest) component, then the other three in wxyz order."""
    v = v.astype(np.uint32)
    abc = np.stack([((v >> s) & 0x3FF) / 1023.0 for s in (20, 10, 0)], axis=1)
    abc = (abc - 0.5) * np.sqrt(2.0)
    largest = np.sqrt(np.clip(1.0 - (abc * abc).sum(axis=1), 0.0, None))
    which = (v >> 30).astype(np.intp)
    quats = np.empty((len(v), 4), dtype=np.float64)
    slots = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[which]  # where a, b, c go
    rows = np.arange(len(v))[:, None]
    quats[rows, slots] = abc
    quats[np.arange(len(v)), which] = largest
    return quats.astype(np.float32)
