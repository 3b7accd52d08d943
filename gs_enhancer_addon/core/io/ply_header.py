"""PLY header parsing and element location, shared by the INRIA and the compressed readers.

Only the header is trusted as text; every count it claims is checked against the file size
before any array is allocated, so a corrupt header cannot trigger a giant allocation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from ..errors import SplatFileError

Encoding = Literal["ascii", "binary_little_endian", "binary_big_endian"]

_END_HEADER = re.compile(rb"\nend_header[ \t]*\r?\n")  # a whole line, not a word inside a comment
MAX_HEADER_BYTES = 1 << 20  # a real 3DGS header is a few KB; 1 MiB leaves room for long comments

# PLY type names (both spellings), plus half precision written by some tools.
PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
    "half": "f2", "float16": "f2",
}


@dataclass
class PlyProperty:
    name: str
    dtype: str  # numpy type code without byte order ('f4'); the item type for a list
    count_dtype: str | None = None  # set for `property list <count> <item> <name>`

    @property
    def is_list(self) -> bool:
        return self.count_dtype is not None


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[PlyProperty] = field(default_factory=list)

    def names(self) -> list[str]:
        return [p.name for p in self.properties]

    @property
    def has_lists(self) -> bool:
        return any(p.is_list for p in self.properties)

    def dtype(self, encoding: Encoding) -> np.dtype:
        """Structured dtype of one binary row (elements without list properties only)."""
        order = ">" if encoding == "binary_big_endian" else "<"
        return np.dtype([(p.name, order + p.dtype) for p in self.properties])


@dataclass
class PlyHeader:
    encoding: Encoding
    elements: list[PlyElement]
    data_offset: int  # byte offset of the first data byte after end_header

    def element(self, name: str) -> PlyElement | None:
        return next((e for e in self.elements if e.name == name), None)


def read_header(f: BinaryIO, path: str | Path) -> PlyHeader:
    head = f.read(MAX_HEADER_BYTES)
    if not head.startswith(b"ply"):
        raise SplatFileError(path, "not a PLY file (it does not start with 'ply').")
    match = _END_HEADER.search(head)
    if match is None:
        raise SplatFileError(path, "the PLY header has no 'end_header' line: the file is truncated or damaged.")
    try:
        text = head[:match.start() + 1].decode("ascii")
    except UnicodeDecodeError:
        raise SplatFileError(path, "the PLY header contains non-text bytes: the file is damaged.") from None
    encoding, elements = _parse_lines(text.splitlines()[1:], path)
    return PlyHeader(encoding, elements, match.end())


def _parse_lines(lines: list[str], path) -> tuple[Encoding, list[PlyElement]]:
    encoding = None
    elements: list[PlyElement] = []
    for number, line in enumerate(lines, start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) < 2 or words[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise SplatFileError(path, f"unknown PLY format in header line {number}: {line.strip()!r}.")
            encoding = words[1]
        elif words[0] == "element":
            elements.append(_parse_element(words, number, path))
        elif words[0] == "property":
            if not elements:
                raise SplatFileError(path, f"PLY header line {number} declares a property before any element.")
            prop = _parse_property(words, number, path)
            if prop.name in elements[-1].names():
                raise SplatFileError(path, f"property '{prop.name}' is declared twice in element "
                                           f"'{elements[-1].name}'.")
            elements[-1].properties.append(prop)
        else:
            raise SplatFileError(path, f"unexpected PLY header line {number}: {line.strip()[:80]!r}.")
    if encoding is None:
        raise SplatFileError(path, "the PLY header has no 'format' line.")
    return encoding, elements


def _parse_element(words: list[str], number: int, path) -> PlyElement:
    if len(words) != 3 or not words[2].isdigit():
        raise SplatFileError(path, f"malformed element line {number} in the PLY header: {' '.join(words)[:80]!r}.")
    return PlyElement(words[1], int(words[2]))


def _parse_property(words: list[str], number: int, path) -> PlyProperty:
    def ptype(name: str) -> str:
        if name not in PLY_TYPES:
            raise SplatFileError(path, f"unknown property type '{name}' in PLY header line {number}.")
        return PLY_TYPES[name]

    if len(words) == 3:
        return PlyProperty(words[2], ptype(words[1]))
    if len(words) == 5 and words[1] == "list":
        return PlyProperty(words[4], ptype(words[3]), count_dtype=ptype(words[2]))
    raise SplatFileError(path, f"malformed property line {number} in the PLY header: {' '.join(words)[:80]!r}.")


def read_binary_elements(f: BinaryIO, path, header: PlyHeader, size: int, wanted: set[str]) -> dict[str, np.ndarray]:
    """Structured arrays of the `wanted` binary elements, after checking they fit in the file."""
    offset = header.data_offset
    out: dict[str, np.ndarray] = {}
    for element in header.elements:
        if not wanted - out.keys():
            break
        if element.has_lists:
            raise SplatFileError(path, f"element '{element.name}' has list properties before the splat data; "
                                       "this PLY layout is not a Gaussian splat file.")
        dtype = element.dtype(header.encoding)
        need = element.count * dtype.itemsize
        if offset + need > size:
            raise SplatFileError(
                path,
                f"the file is truncated: the header declares {element.count} '{element.name}' rows "
                f"({need} bytes) but only {max(size - offset, 0)} bytes of data follow the header.",
            )
        if element.name in wanted:
            f.seek(offset)
            data = np.fromfile(f, dtype=dtype, count=element.count)
            if data.shape[0] != element.count:
                raise SplatFileError(path, "the file is truncated (it ended while reading the splat data).")
            out[element.name] = data
        offset += need
    return out


def read_ascii_elements(f: BinaryIO, path, header: PlyHeader, wanted: set[str]) -> dict[str, np.ndarray]:
    """float64 tables [count, properties] of the `wanted` ascii elements (no list properties)."""
    f.seek(header.data_offset)
    try:
        lines = f.read().decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise SplatFileError(path, "the ascii PLY data contains non-text bytes: the file is damaged.") from None
    lines = [line for line in lines if line.strip()]
    start = 0
    out: dict[str, np.ndarray] = {}
    for element in header.elements:
        if not wanted - out.keys():
            break
        if start + element.count > len(lines):
            raise SplatFileError(path, f"the file is truncated: the header declares {element.count} "
                                       f"'{element.name}' rows but fewer lines follow.")
        if element.name in wanted:
            if element.has_lists:
                raise SplatFileError(path, f"element '{element.name}' has list properties; not a splat layout.")
            out[element.name] = _parse_ascii_rows(lines[start:start + element.count], element, path)
        start += element.count
    return out


def _parse_ascii_rows(rows: list[str], element: PlyElement, path) -> np.ndarray:
    width = len(element.properties)
    if not rows:
        return np.zeros((0, width))
    try:
        table = np.loadtxt(rows, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        raise SplatFileError(path, f"the ascii '{element.name}' rows hold non-numeric values or rows of "
                                   f"different lengths (expected {width} numbers per row).") from None
    if table.shape[1] != width:
        raise SplatFileError(path, f"the ascii '{element.name}' rows hold {table.shape[1]} numbers each; "
                                   f"the header declares {width} properties.")
    return table


BLOCK_BYTES = 1 << 18  # rows are decoded in ~256 KiB blocks: cache-resident, and no second full-size copy


def element_offset(path, header: PlyHeader, size: int, name: str) -> int:
    """Byte offset of binary element `name`, after checking that it and all before it fit the file."""
    offset = header.data_offset
    for element in header.elements:
        if element.has_lists:
            raise SplatFileError(path, f"element '{element.name}' has list properties before the splat data; "
                                       "this PLY layout is not a Gaussian splat file.")
        need = element.count * element.dtype(header.encoding).itemsize
        if offset + need > size:
            raise SplatFileError(
                path,
                f"the file is truncated: the header declares {element.count} '{element.name}' rows "
                f"({need} bytes) but only {max(size - offset, 0)} bytes of data follow the header.",
            )
        if element.name == name:
            return offset
        offset += need
    raise SplatFileError(path, f"the PLY file has no '{name}' element.")


def iter_float_blocks(f: BinaryIO, path, header: PlyHeader, size: int, element: PlyElement):
    """(first_row, rows [b, P] float32 in native order) blocks over a binary element.

    The element's size is checked against the file right away (before the caller allocates
    anything); the blocks are then read lazily. Any property types are converted to float32; the
    caller must copy what it keeps before the next block (the array may view a reused buffer).
    """
    f.seek(element_offset(path, header, size, element.name))
    return _float_blocks(f, path, header, element)


def _float_blocks(f: BinaryIO, path, header: PlyHeader, element: PlyElement):
    dtype = element.dtype(header.encoding)
    codes = {p.dtype for p in element.properties}
    uniform = np.dtype(dtype[0].str) if len(codes) == 1 else None
    block_rows = max(1, BLOCK_BYTES // dtype.itemsize)
    buffer = bytearray(block_rows * dtype.itemsize)
    width = len(element.properties)
    for start in range(0, element.count, block_rows):
        rows = min(block_rows, element.count - start)
        nbytes = rows * dtype.itemsize
        view = memoryview(buffer)[:nbytes]
        if f.readinto(view) != nbytes:
            raise SplatFileError(path, "the file is truncated (it ended while reading the splat data).")
        if uniform is not None:
            block = np.frombuffer(view, dtype=uniform).reshape(rows, width)
            if block.dtype != np.float32 or not block.dtype.isnative:
                block = block.astype(np.float32)
        else:
            records = np.frombuffer(view, dtype=dtype)
            block = np.empty((rows, width), dtype=np.float32)
            for j, name in enumerate(element.names()):
                block[:, j] = records[name]
        yield start, block
