"""Splat files in and out: one entry point that picks the format from the name and the content.

Read: .ply (INRIA 3DGS layout in any PLY encoding, or SuperSplat/PlayCanvas compressed) and
.splat. Write: .ply and .splat. The format is chosen from the file's first bytes where they are
conclusive (a .ply renamed .splat still loads), else from the extension.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy
from ._common import atomic_path, open_for_reading

READ_EXTENSIONS = (".ply", ".splat")
WRITE_EXTENSIONS = (".ply", ".splat")


def detect_format(path: str | Path) -> str:
    """'ply' or 'splat'; SplatFileError for anything else (naming what is supported)."""
    with open_for_reading(path) as f:
        magic = f.read(4)
    if magic[:3] == b"ply":
        return "ply"
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        raise SplatFileError(path, "not a PLY file (it does not start with 'ply'): the file is damaged "
                                   "or has the wrong extension.")
    if suffix == ".splat":
        return "splat"
    if magic[:2] == b"\x1f\x8b" or suffix == ".spz":
        raise SplatFileError(path, ".spz (gzip-compressed) splat files are not supported yet; convert the "
                                   "file to .ply (for example with SuperSplat) and import that.")
    raise SplatFileError(path, f"unknown splat file format '{suffix or '(no extension)'}'; supported: "
                               + ", ".join(READ_EXTENSIONS) + ".")


def read_scene(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    """Read any supported splat file. nonfinite: 'error' (default), 'drop' or 'keep' NaN/Inf splats."""
    if detect_format(path) == "ply":
        from .ply import read_ply

        return read_ply(path, nonfinite=nonfinite)
    from .splat import read_splat

    return read_splat(path, nonfinite=nonfinite)


def write_scene(scene: GaussianScene, path: str | Path) -> None:
    """Write .ply (INRIA layout, binary little-endian) or .splat (lossy, SH degree 0)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        from .ply import write_ply

        write_ply(scene, path)
    elif suffix == ".splat":
        from .splat import write_splat

        write_splat(scene, path)
    else:
        raise SplatFileError(path, f"cannot write '{suffix or '(no extension)'}' files; use one of "
                                   + ", ".join(WRITE_EXTENSIONS) + ".")
