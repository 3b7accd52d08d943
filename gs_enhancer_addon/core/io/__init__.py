"""Splat files in and out: one entry point that picks the format from the name and the content.

Read: .ply (INRIA 3DGS layout in any PLY encoding, or SuperSplat/PlayCanvas compressed), .splat,
.spz (Niantic, versions 1-4), .ksplat (GaussianSplats3D, compression levels 0-2) and SOG
(PlayCanvas: a .sog zip, or a folder / its meta.json). Write: .ply, .splat and .spz (version 3).
The format is chosen from the file's first bytes where they are conclusive (a .ply renamed
.splat still loads), else from the extension.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy
from ._common import atomic_path, open_for_reading  # atomic_path: re-exported (cli.py)

__all__ = ["READ_EXTENSIONS", "WRITE_EXTENSIONS", "atomic_path", "detect_format", "read_scene", "write_scene"]

READ_EXTENSIONS = (".ply", ".splat", ".spz", ".ksplat", ".sog")  # and a SOG folder or its meta.json
WRITE_EXTENSIONS = (".ply", ".splat", ".spz")
_BY_SUFFIX = {".ply": "ply", ".splat": "splat", ".spz": "spz", ".ksplat": "ksplat", ".sog": "sog"}


def detect_format(path: str | Path) -> str:
    """'ply', 'splat', 'spz', 'ksplat' or 'sog'; SplatFileError for anything else (naming what is supported)."""
    from .sog import META, is_sog_folder

    if is_sog_folder(path):
        return "sog"
    with open_for_reading(path) as f:
        magic = f.read(4)
    suffix = Path(path).suffix.lower()
    if magic[:3] == b"ply":
        return "ply"
    if suffix == ".ply":
        raise SplatFileError(path, "not a PLY file (it does not start with 'ply'): the file is damaged "
                                   "or has the wrong extension.")
    if suffix in (".splat", ".ksplat"):  # headerless raw floats / a binary header: their first bytes
        return _BY_SUFFIX[suffix]        # prove nothing (a .splat can start with gzip's 1f 8b by chance)
    if magic[:2] == b"\x1f\x8b" or magic == b"NGSP":
        return "spz"
    if magic == b"PK\x03\x04" or Path(path).name == META:
        return "sog"
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    raise SplatFileError(path, f"unknown splat file format '{suffix or '(no extension)'}'; supported: "
                               + ", ".join(READ_EXTENSIONS) + " and SOG folders (meta.json).")


def read_scene(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    """Read any supported splat file. nonfinite: 'error' (default), 'drop' or 'keep' NaN/Inf splats."""
    kind = detect_format(path)
    if kind == "ply":
        from .ply import read_ply as read
    elif kind == "splat":
        from .splat import read_splat as read
    elif kind == "spz":
        from .spz import read_spz as read
    elif kind == "ksplat":
        from .ksplat import read_ksplat as read
    else:
        from .sog import read_sog as read
    return read(path, nonfinite=nonfinite)


def write_scene(scene: GaussianScene, path: str | Path) -> None:
    """Write .ply (INRIA layout, binary little-endian, lossless), .splat (lossy, SH degree 0) or
    .spz (version 3, gzip; lossy, see core.io.spz)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        from .ply import write_ply as write
    elif suffix == ".splat":
        from .splat import write_splat as write
    elif suffix == ".spz":
        from .spz import write_spz as write
    else:
        raise SplatFileError(path, f"cannot write '{suffix or '(no extension)'}' files; use one of "
                                   + ", ".join(WRITE_EXTENSIONS) + ".")
    write(scene, path)
