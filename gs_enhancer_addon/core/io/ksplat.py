""".ksplat of mkkellogg's GaussianSplats3D viewer: read, compression levels 0, 1 and 2.

Layout (derived from GaussianSplats3D's SplatBuffer and playcanvas/splat-transform's reader): a
4096-byte main header (version 0.1+ at bytes 0-1, section count at 4, splat count at 16,
compression level at 20, SH min/max at 36/40 for level 2), then one 1024-byte header per section
(splat count, capacity, bucket size and count, bucket block size, bucket storage bytes,
quantization range, full/partial bucket counts, SH degree), then per section: partial-bucket
sizes (uint32), bucket centres (3 float32 each), and fixed-size splat records:
  level 0: position 3 float32, scale 3 float32 (linear), rotation 4 float32 (w, x, y, z),
           RGBA 4 uint8, SH float32;
  level 1: position 3 uint16 relative to the bucket centre, scale and rotation float16, RGBA,
           SH float16;
  level 2: as level 1 with SH as uint8 between the header's min and max.
SH are stored band by band, channel-major inside a band (r1 r2 r3 g1 g2 g3 b1 b2 b3, then the
five band-2 coefficients per channel, ...). Coordinates are those of the source .ply (RDF).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import SplatFileError
from ..gaussians import SH_C0, GaussianScene, NonFinitePolicy, sh_coefficient_count
from ._common import finish, read_whole_file

MAIN_HEADER = 4096
SECTION_HEADER = 1024
SECTION = struct.Struct("<IIIIfHxxIIIIH")  # count, capacity, bucket size, buckets, block size, bucket bytes,
#                                           quantization range, storage bytes, full buckets, partial buckets, SH degree
_ALPHA_EPS = 0.5 / 255.0


def _record_dtype(level: int, degree: int) -> np.dtype:
    rest = 3 * (sh_coefficient_count(degree) - 1)
    if level == 0:
        return np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rotation", "<f4", 4), ("rgba", "u1", 4),
                         ("sh", "<f4", rest)])
    return np.dtype([("position", "<u2", 3), ("scale", "<f2", 3), ("rotation", "<f2", 4), ("rgba", "u1", 4),
                     ("sh", "<f2" if level == 1 else "u1", rest)])


def read_ksplat(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    data = read_whole_file(path)
    size = len(data)
    if size < MAIN_HEADER:
        raise SplatFileError(path, f"a .ksplat file starts with a {MAIN_HEADER}-byte header; this one has {size} bytes.")
    major, minor = data[0], data[1]
    if major != 0 or minor < 1:
        raise SplatFileError(path, f".ksplat version {major}.{minor} is not supported (0.1 and later are).")
    sections, total, level = struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 16)[0], \
        struct.unpack_from("<H", data, 20)[0]
    sh_min, sh_max = struct.unpack_from("<ff", data, 36)
    if level > 2:
        raise SplatFileError(path, f".ksplat compression level {level} is not supported (0, 1 and 2 are).")
    if total == 0:
        raise SplatFileError(path, "the file contains no splats (the .ksplat splat count is 0).")
    if MAIN_HEADER + sections * SECTION_HEADER > size:
        raise SplatFileError(path, f"the .ksplat header declares {sections:,} sections; the file is too short for them.")
    parts, offset = [], MAIN_HEADER + sections * SECTION_HEADER
    for index in range(sections):
        section = SECTION.unpack_from(data, MAIN_HEADER + index * SECTION_HEADER)
        part, offset = _read_section(path, data, offset, section, level, (sh_min or -1.5, sh_max or 1.5))
        if part is not None:
            parts.append(part)
    if sum(len(p) for p in parts) != total:
        raise SplatFileError(path, f"the .ksplat header claims {total:,} splats; its sections hold "
                                   f"{sum(len(p) for p in parts):,}.")
    return finish(parts[0] if len(parts) == 1 else GaussianScene.concat(parts), path, nonfinite)


def _read_section(path, data: bytes, offset: int, section: tuple, level: int, sh_range: tuple[float, float]):
    count, capacity, bucket_size, buckets, block, bucket_bytes, q_range, _, full, partial, degree = section
    if degree > 3:
        raise SplatFileError(path, f".ksplat SH degree {degree} is not supported (0-3 are).")
    record = _record_dtype(level, degree)
    storage = bucket_bytes * buckets + 4 * partial
    end = offset + storage + record.itemsize * capacity
    if count > capacity or end > len(data) or buckets < full + partial or (level > 0 and bucket_bytes < 12):
        raise SplatFileError(path, "a .ksplat section is larger than the file or inconsistent: it is truncated or damaged.")
    if count == 0:
        return None, end
    rows = np.frombuffer(data, dtype=record, count=count, offset=offset + storage)
    means = rows["position"].astype(np.float32)
    if level > 0:
        centres = np.frombuffer(data, dtype="<f4", count=buckets * 3, offset=offset + 4 * partial).reshape(buckets, 3)
        sizes = np.frombuffer(data, dtype="<u4", count=partial, offset=offset).astype(np.int64)
        held = full * bucket_size + int(sizes.sum())
        if held < count or int(sizes.sum()) > capacity:  # checked before np.repeat allocates by them
            raise SplatFileError(path, f"a .ksplat section's buckets hold {held:,} "
                                       f"splats, not {count:,}.")
        bucket_of = np.concatenate([np.arange(count, dtype=np.int64)[:full * bucket_size] // max(bucket_size, 1),
                                    np.repeat(np.arange(full, full + partial), sizes)])
        q_range = q_range or 32767
        means = (means - q_range) * np.float32(block / 2.0 / q_range) + centres[bucket_of[:count]]
    rgba = rows["rgba"].astype(np.float32) / 255.0
    alpha = np.clip(rgba[:, 3], _ALPHA_EPS, 1.0 - _ALPHA_EPS)
    k = sh_coefficient_count(degree)
    sh = np.empty((count, k, 3), dtype=np.float32)
    sh[:, 0] = (rgba[:, :3] - 0.5) / SH_C0
    start = 0
    for band in range(1, degree + 1):  # per band: r coefficients, then g, then b
        first, width = band * band, 2 * band + 1
        band_values = rows["sh"][:, start:start + 3 * width].reshape(count, 3, width)
        sh[:, first:first + width] = band_values.transpose(0, 2, 1)
        start += 3 * width
    if degree and level == 2:
        sh[:, 1:] *= np.float32((sh_range[1] - sh_range[0]) / 255.0)
        sh[:, 1:] += np.float32(sh_range[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_scales = np.log(rows["scale"].astype(np.float32))
    scene = GaussianScene(
        means=np.ascontiguousarray(means, dtype=np.float32),
        quats=rows["rotation"].astype(np.float32),
        log_scales=log_scales,
        opacity_logits=np.log(alpha / (1.0 - alpha)).astype(np.float32),
        sh=sh,
    )
    return scene, end
