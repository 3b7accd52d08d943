"""Niantic's SPZ: read versions 1-4, write version 3 (gzip) or 4 (zstd).

Layout (derived from the format description and nianticlabs/spz): a 16-byte header `NGSP`,
version, splat count, SH degree, fractional bits, flags (0x1 antialiased, 0x2 extensions), then
the attributes one after another: positions (v1: float16 x3; v2+: 24-bit signed fixed point with
`fractional bits` bits after the point), alphas (uint8 sigmoid), colors (uint8 DC: (byte / 255 -
0.5) / 0.15), scales (uint8 log: byte / 16 - 10), rotations (v1-v2: xyz as uint8, w >= 0 derived;
v3+: "smallest three" in 32 bits: 2-bit index of the largest component, three 10-bit sign +
9-bit magnitude values), SH bands 1+ (uint8 (byte - 128) / 128, per splat coefficient-major with
r, g, b inner). v1-v3 gzip the whole stream (some tools write it raw); v4 has a 32-byte header
(the same fields, a stream count and the offset of a table of (compressed, uncompressed) uint64
sizes) and zstd-compresses each attribute on its own.

SPZ stores RUB coordinates (x right, y up, z back); GaussianScene is RDF like INRIA .ply, so both
directions go through frames.flip_yz.

Writing is lossy: positions to 2^-12 m (0.24 mm; fewer fractional bits when the scene spans more
than +-2048 m), log-scales to steps of 1/16 in [-10, 5.94], opacity to 1/255, the DC color to
steps of 0.026 in [-3.33, 3.33], rotations to ~9 bits per component, SH bands 1-3 to steps of
1/128 in [-1, 0.99]. Higher SH degrees than 3 (SPZ allows 4) are read and the fourth band dropped.
"""

from __future__ import annotations

import logging
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy, sh_coefficient_count
from ._common import atomic_write, check_writable, finish, read_whole_file
from .frames import AXIS_SIGNS, QUAT_SIGNS, SH_SIGNS_FLIP_YZ, flip_yz

log = logging.getLogger(__name__)

MAGIC = b"NGSP"
HEADER = struct.Struct("<4sIIBBBB")  # magic, version, count, sh degree, fractional bits, flags, reserved
HEADER_V4 = struct.Struct("<4sIIBBBBI12x")  # ... flags, stream count, table offset, 12 reserved bytes
FLAG_ANTIALIASED = 0x1
FLAG_EXTENSIONS = 0x2
COLOR_SCALE = 0.15  # the DC term is stored as dc * 0.15 + 0.5 (wider than SH_C0, so out-of-range colors fit)
MAX_SH_DEGREE = 4
MAX_GZIP_RATIO = 1032  # deflate cannot expand more than this: bounds a claimed size by the file size
MAX_ZSTD_RATIO = 1 << 17  # zstd's bound is far looser; it still stops absurd claims before allocating
_ALPHA_EPS = 0.5 / 255.0  # alpha bytes 0 / 255 decode to a finite logit, as for .splat


def _sh_dim(degree: int) -> int:  # SH coefficients per channel beyond the DC term
    return (degree + 1) ** 2 - 1


def _section_sizes(version: int, n: int, degree: int) -> list[tuple[str, int]]:
    return [("positions", n * 3 * (2 if version == 1 else 3)), ("alphas", n), ("colors", n * 3),
            ("scales", n * 3), ("rotations", n * (3 if version < 3 else 4)), ("sh", n * _sh_dim(degree) * 3)]


# ----------------------------------------------------------------------------------- reading
def read_spz(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    data = read_whole_file(path)
    if data[:2] == b"\x1f\x8b":
        header, sections = _gunzip_sections(path, data)
    elif data[:4] == MAGIC:
        version = struct.unpack_from("<I", data, 4)[0] if len(data) >= 8 else 1
        if not 1 <= version <= 4:
            raise SplatFileError(path, f"SPZ version {version} is not supported (versions 1-4 are).")
        header, sections = (_zstd_sections(path, data) if version == 4 else _raw_sections(path, data))
    else:
        raise SplatFileError(path, "not an SPZ file: it is neither gzip-compressed nor starts with 'NGSP'.")
    version, n, degree, fractional_bits, flags = header
    scene = _decode(version, n, degree, fractional_bits, sections)
    scene.antialiased = bool(flags & FLAG_ANTIALIASED)
    return finish(scene, path, nonfinite)


def _check_header(path, version: int, n: int, degree: int, flags: int, wrapper: str) -> None:
    if version < 1 or version > 4:
        raise SplatFileError(path, f"SPZ version {version} is not supported (versions 1-4 are).")
    if version == 4 and wrapper != "zstd" or version < 4 and wrapper == "zstd":
        raise SplatFileError(path, f"SPZ version {version} in a {wrapper} container: the file is damaged.")
    if n == 0:
        raise SplatFileError(path, "the file contains no splats (the SPZ splat count is 0).")
    if degree > MAX_SH_DEGREE:
        raise SplatFileError(path, f"SPZ SH degree {degree} is not supported (0-{MAX_SH_DEGREE} are).")
    if flags & FLAG_EXTENSIONS:
        raise SplatFileError(path, f"SPZ v{version} extensions (header flag 0x2, e.g. Adobe's SH quantization) "
                                   "are not supported; re-save the file without extensions.")
    if flags & ~(FLAG_ANTIALIASED | FLAG_EXTENSIONS):
        raise SplatFileError(path, f"SPZ v{version} header flags 0x{flags:02x} include unknown features.")


def _split(path, payload: memoryview, version: int, n: int, degree: int) -> dict[str, memoryview]:
    sections, offset = {}, 0
    for name, length in _section_sizes(version, n, degree):
        sections[name] = payload[offset:offset + length]
        offset += length
    if offset > len(payload):
        raise SplatFileError(path, f"the SPZ data is truncated: {n:,} splats of SH degree {degree} need "
                                   f"{offset:,} bytes after the header, the file holds {len(payload):,}.")
    return sections


def _raw_sections(path, data: bytes):
    if len(data) < HEADER.size:
        raise SplatFileError(path, "the SPZ header is truncated.")
    _, version, n, degree, fractional_bits, flags, _ = HEADER.unpack_from(data)
    _check_header(path, version, n, degree, flags, "raw")
    return (version, n, degree, fractional_bits, flags), _split(path, memoryview(data)[HEADER.size:], version, n, degree)


def _gunzip_sections(path, data: bytes):
    inflater = zlib.decompressobj(wbits=31)  # gzip only
    try:
        head = inflater.decompress(data, HEADER.size)
        if len(head) < HEADER.size:
            raise SplatFileError(path, "the gzip stream ends before the SPZ header.")
        magic, version, n, degree, fractional_bits, flags, _ = HEADER.unpack(head)
        if magic != MAGIC:
            raise SplatFileError(path, "a gzip file, but not an SPZ splat file (no 'NGSP' header inside).")
        _check_header(path, version, n, degree, flags, "gzip")
        needed = sum(length for _, length in _section_sizes(version, n, degree))
        if needed > MAX_GZIP_RATIO * len(data):
            raise SplatFileError(path, f"the SPZ header claims {n:,} splats, more than a {len(data):,}-byte "
                                       "gzip file can hold: the file is damaged.")
        payload = inflater.decompress(inflater.unconsumed_tail, needed)
    except zlib.error as exc:
        raise SplatFileError(path, f"the gzip stream is damaged ({exc}).") from None
    return (version, n, degree, fractional_bits, flags), _split(path, memoryview(payload), version, n, degree)


def _zstd_sections(path, data: bytes):
    if len(data) < HEADER_V4.size:
        raise SplatFileError(path, "the SPZ v4 header is truncated.")
    _, version, n, degree, fractional_bits, flags, streams, table = HEADER_V4.unpack_from(data)
    _check_header(path, version, n, degree, flags, "zstd")
    expected = _section_sizes(version, n, degree)
    expected = [item for item in expected if item[1] > 0 or item[0] != "sh"]
    if streams != len(expected):
        raise SplatFileError(path, f"SPZ v4 with SH degree {degree} has {len(expected)} streams; "
                                   f"this file declares {streams}.")
    if table < HEADER_V4.size or table + 16 * streams > len(data):
        raise SplatFileError(path, "the SPZ v4 stream table lies outside the file: it is truncated or damaged.")
    sizes = [struct.unpack_from("<QQ", data, table + 16 * i) for i in range(streams)]
    zstd = _zstandard(path)
    sections, offset = {"sh": memoryview(b"")}, table + 16 * streams
    for (name, length), (packed, unpacked) in zip(expected, sizes):
        if unpacked != length:
            raise SplatFileError(path, f"SPZ v4 stream '{name}' holds {unpacked:,} bytes; {n:,} splats need {length:,}.")
        if offset + packed > len(data) or length > MAX_ZSTD_RATIO * max(packed, 1):
            raise SplatFileError(path, f"SPZ v4 stream '{name}' is truncated or its sizes are damaged.")
        try:
            raw = zstd.ZstdDecompressor().decompress(data[offset:offset + packed], max_output_size=length)
        except zstd.ZstdError as exc:
            raise SplatFileError(path, f"SPZ v4 stream '{name}' cannot be decompressed ({exc}).") from None
        if len(raw) != length:
            raise SplatFileError(path, f"SPZ v4 stream '{name}' decompresses to {len(raw):,} bytes, not {length:,}.")
        sections[name] = memoryview(raw)
        offset += packed
    return (version, n, degree, fractional_bits, flags), sections


def _zstandard(path):
    try:
        import zstandard
    except ImportError:
        raise SplatFileError(path, "SPZ version 4 is zstd-compressed and needs the 'zstandard' Python package "
                                   "(bundled with Blender); install it with pip install zstandard.") from None
    return zstandard


def _byte_table(values) -> np.ndarray:  # [256] float32: what each byte value decodes to
    return np.asarray(values, dtype=np.float64).astype(np.float32)


_BYTES = np.arange(256, dtype=np.float64)
_ALPHA_BYTES = np.clip(_BYTES / 255.0, _ALPHA_EPS, 1.0 - _ALPHA_EPS)
OPACITY_TABLE = _byte_table(np.log(_ALPHA_BYTES / (1.0 - _ALPHA_BYTES)))
LOG_SCALE_TABLE = _byte_table(_BYTES / 16.0 - 10.0)
_ROTATION_TABLE = _byte_table(np.where(np.arange(1024) & 0x200, -1.0, 1.0) * (np.arange(1024) & 0x1FF) * (math.sqrt(0.5) / 511.0))


def _decode(version: int, n: int, degree: int, fractional_bits: int, s: dict[str, memoryview]) -> GaussianScene:
    """The SPZ sections as a GaussianScene in our RDF frame (the RUB -> RDF signs applied while
    decoding, so no second pass over the arrays); opacity and scale bytes go through 256-entry tables."""
    if version == 1:
        means = np.frombuffer(s["positions"], dtype="<f2").reshape(n, 3) * AXIS_SIGNS
    else:
        b = np.frombuffer(s["positions"], dtype=np.uint8).reshape(n, 3, 3)
        fixed = b[..., 0].astype(np.int32) | (b[..., 1].astype(np.int32) << 8) | (b[..., 2].astype(np.int32) << 16)
        fixed ^= 0x800000
        fixed -= 0x800000  # sign-extend 24 bits
        means = fixed.astype(np.float32)
        means *= AXIS_SIGNS * np.float32(1.0 / (1 << fractional_bits))
    k = sh_coefficient_count(min(degree, 3))
    sh = np.empty((n, k, 3), dtype=np.float32)  # filled in place: arithmetic on uint8 beats table lookups here
    sh[:, 0] = np.frombuffer(s["colors"], dtype=np.uint8).reshape(n, 3)
    sh[:, 0] -= np.float32(127.5)
    sh[:, 0] *= np.float32(1.0 / (255.0 * COLOR_SCALE))
    if degree:
        rest = sh[:, 1:]
        rest[...] = np.frombuffer(s["sh"], dtype=np.uint8).reshape(n, _sh_dim(degree), 3)[:, :k - 1]
        rest -= np.float32(128.0)
        rest *= (SH_SIGNS_FLIP_YZ[1:k] / np.float32(128.0))[:, None]
        if degree > 3:
            log.warning("SPZ SH degree %d: the fourth band is dropped (GaussianScene holds degrees 0-3).", degree)
    rotations = np.frombuffer(s["rotations"], dtype=np.uint8)
    quats = _first_three(rotations.reshape(n, 3)) if version < 3 else _smallest_three(rotations.view("<u4"))
    quats *= QUAT_SIGNS
    return GaussianScene(
        means=np.ascontiguousarray(means, dtype=np.float32),
        quats=quats,
        log_scales=LOG_SCALE_TABLE[np.frombuffer(s["scales"], dtype=np.uint8).reshape(n, 3)],
        opacity_logits=OPACITY_TABLE[np.frombuffer(s["alphas"], dtype=np.uint8)],
        sh=sh,
    )


def _first_three(r: np.ndarray) -> np.ndarray:  # [N, 3] uint8 -> [N, 4] wxyz (SPZ's frame)
    quats = np.empty((len(r), 4), dtype=np.float32)
    quats[:, 1:] = r
    quats[:, 1:] *= np.float32(1.0 / 127.5)
    quats[:, 1:] -= np.float32(1.0)
    quats[:, 0] = np.sqrt(np.clip(1.0 - np.einsum("ij,ij->i", quats[:, 1:], quats[:, 1:]), 0.0, None))
    return quats


def _smallest_three(comp: np.ndarray) -> np.ndarray:  # [N] uint32 -> [N, 4] wxyz (SPZ's frame)
    """Index of the largest component (xyzw order) in the top 2 bits; the other three, in
    descending index order, take the 10-bit groups from the lowest bits up (sign bit, 9-bit
    magnitude of |q_i| / sqrt(1/2)); the largest is positive and restores unit length."""
    largest = (comp >> 30).astype(np.int8)
    values = np.stack([_ROTATION_TABLE[(comp >> shift) & 0x3FF] for shift in (20, 10, 0)], axis=1)  # ascending slots
    biggest = np.sqrt(np.clip(1.0 - np.einsum("ij,ij->i", values, values), 0.0, None))
    quats = np.empty((len(comp), 4), dtype=np.float32)
    for i, column in enumerate((1, 2, 3, 0)):  # xyzw index i -> wxyz column
        slot = np.minimum(i - (largest < i), 2)  # i's place among the three stored components
        quats[:, column] = np.where(largest == i, biggest, np.take_along_axis(values, slot[:, None].astype(np.intp), 1)[:, 0])
    return quats


# ----------------------------------------------------------------------------------- writing
def write_spz(scene: GaussianScene, path: str | Path, version: int = 3) -> None:
    """Write SPZ v3 (gzip; what Niantic's library and most viewers read) or v4 (zstd streams)."""
    if version not in (3, 4):
        raise ValueError(f"SPZ version must be 3 or 4, got {version!r}")
    check_writable(scene)
    rub = flip_yz(scene)
    fractional_bits = _fractional_bits(rub.means, path)
    sections = _encode(rub, fractional_bits)
    flags = FLAG_ANTIALIASED if scene.antialiased else 0
    n, degree = len(scene), scene.sh_degree
    if version == 3:
        body = HEADER.pack(MAGIC, 3, n, degree, fractional_bits, flags, 0) + b"".join(sections)
        blob = _gzip(body)
    else:
        zstd = _zstandard(path)
        streams = [s for s in sections if len(s)]
        packed = [zstd.ZstdCompressor(level=12).compress(s) for s in streams]
        head = HEADER_V4.pack(MAGIC, 4, n, degree, fractional_bits, flags, len(streams), HEADER_V4.size)
        table = b"".join(struct.pack("<QQ", len(p), len(s)) for p, s in zip(packed, streams))
        blob = head + table + b"".join(packed)
    with atomic_write(path) as f:
        f.write(blob)


def _gzip(body: bytes) -> bytes:
    deflater = zlib.compressobj(level=6, wbits=31)
    return deflater.compress(body) + deflater.flush()


def _fractional_bits(means: np.ndarray, path) -> int:
    """12 (0.24 mm) unless the scene reaches past +-2048: then as many as the 24-bit range allows."""
    extent = float(np.abs(means[np.isfinite(means)]).max(initial=0.0))
    for bits in range(12, -1, -1):
        if extent * (1 << bits) < (1 << 23) - 1:
            return bits
    raise SplatFileError(path, f"splats lie {extent:.3g} units from the origin; SPZ positions reach +-8.4 million.")


def _encode(scene: GaussianScene, fractional_bits: int) -> list[bytes]:
    """positions, alphas, colors, scales, rotations (smallest three), SH: the v3 sections."""
    n = len(scene)
    with np.errstate(invalid="ignore"):
        fixed = np.nan_to_num(np.round(scene.means.astype(np.float64) * (1 << fractional_bits))).astype(np.int64)
    fixed = np.clip(fixed, -(1 << 23), (1 << 23) - 1) & 0xFFFFFF
    positions = np.stack([(fixed >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8)
    alphas = _to_u8(scene.opacities() * 255.0)
    colors = _to_u8(scene.sh[:, 0] * (COLOR_SCALE * 255.0) + 127.5)
    scales = _to_u8((scene.log_scales + 10.0) * 16.0)
    sh = _to_u8(scene.sh[:, 1:] * 128.0 + 128.0).reshape(n, -1)
    return [positions.tobytes(), alphas.tobytes(), colors.tobytes(), scales.tobytes(),
            _pack_smallest_three(scene.quats).tobytes(), sh.tobytes()]


def _to_u8(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.clip(np.nan_to_num(np.round(x)), 0, 255).astype(np.uint8)


def _pack_smallest_three(quats: np.ndarray) -> np.ndarray:  # [N, 4] wxyz -> [N] uint32
    xyzw = quats[:, [1, 2, 3, 0]].astype(np.float64)
    norm = np.linalg.norm(xyzw, axis=1, keepdims=True)
    xyzw = np.where(norm > 0, xyzw / np.where(norm > 0, norm, 1.0), [0.0, 0.0, 0.0, 1.0])
    xyzw = np.nan_to_num(xyzw)
    largest = np.abs(xyzw).argmax(axis=1)
    xyzw = np.where(xyzw[np.arange(len(xyzw)), largest][:, None] < 0, -xyzw, xyzw)
    slots = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    others = np.take_along_axis(xyzw, slots, axis=1)  # ascending slots
    mags = np.clip(np.round(np.abs(others) / math.sqrt(0.5) * 511.0), 0, 511).astype(np.uint32)
    groups = mags | ((others < 0).astype(np.uint32) << 9)
    return (largest.astype(np.uint32) << 30) | (groups[:, 0] << 20) | (groups[:, 1] << 10) | groups[:, 2]
