"""The INRIA 3DGS .ply layout: read (any encoding, property order and numeric type) and write.

Layout (Kerbl et al. 2023, "3D Gaussian Splatting for Real-Time Radiance Field Rendering"):
one `vertex` element with x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2
rot_0..3, f_rest channel-major (all red coefficients, then green, then blue), scales as logs,
opacity as a logit, rot as (w, x, y, z). SuperSplat compressed files are detected and decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy
from . import compressed_ply
from ._common import atomic_write, file_size, finish, open_for_reading
from .ply_header import PlyElement, PlyHeader, read_ascii_elements, read_binary_elements, read_header

BASE_PROPERTIES = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                   "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
REST_COUNTS = {0: 0, 9: 1, 24: 2, 45: 3}  # number of f_rest_* properties -> SH degree


def read_ply(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    size = file_size(path)
    with open_for_reading(path) as f:
        header = read_header(f, path)
        if compressed_ply.is_compressed(header):
            return finish(compressed_ply.decode(f, path, header, size), path, nonfinite)
        vertex = header.element("vertex")
        if vertex is None:
            raise SplatFileError(path, "the PLY file has no 'vertex' element, so it holds no splats.")
        if vertex.count == 0:
            raise SplatFileError(path, "the file contains no splats (the vertex count is 0).")
        columns = splat_columns(vertex, path)
        if header.encoding == "ascii":
            table = read_ascii_elements(f, path, header, {"vertex"})["vertex"]
        else:
            table = _as_float32_table(read_binary_elements(f, path, header, size, {"vertex"})["vertex"], vertex)
    return finish(_scene_from_table(table, columns), path, nonfinite)


def splat_columns(vertex: PlyElement, path) -> dict[str, np.ndarray]:
    """Column indices into the vertex row for each GaussianScene field (sh as [K, 3])."""
    names = vertex.names()
    index = {name: i for i, name in enumerate(names)}
    missing = [n for n in BASE_PROPERTIES if n not in index]
    if missing:
        hint = ""
        if {"red", "green", "blue"} <= index.keys() and "f_dc_0" not in index:
            hint = " It looks like a plain colored point cloud, not a Gaussian splat capture."
        raise SplatFileError(path, f"the vertex element lacks the 3DGS properties {', '.join(missing)}.{hint}")
    rest = sorted((n for n in names if n.startswith("f_rest_")), key=lambda n: _rest_number(n, path))
    if len(rest) not in REST_COUNTS or [_rest_number(n, path) for n in rest] != list(range(len(rest))):
        raise SplatFileError(path, f"found {len(rest)} f_rest_* properties; a 3DGS file has f_rest_0.. with "
                                   "0, 9, 24 or 45 of them (SH degree 0-3).")
    k = REST_COUNTS[len(rest)] + 1
    k = k * k
    sh = np.empty((k, 3), dtype=np.intp)
    for c in range(3):
        sh[0, c] = index[f"f_dc_{c}"]
        for j in range(1, k):
            sh[j, c] = index[f"f_rest_{c * (k - 1) + j - 1}"]
    return {
        "means": np.array([index[n] for n in ("x", "y", "z")]),
        "quats": np.array([index[f"rot_{i}"] for i in range(4)]),
        "log_scales": np.array([index[f"scale_{i}"] for i in range(3)]),
        "opacity_logits": np.array([index["opacity"]]),
        "sh": sh,
    }


def _rest_number(name: str, path) -> int:
    suffix = name[len("f_rest_"):]
    if not suffix.isdigit():
        raise SplatFileError(path, f"unexpected property name '{name}' (expected f_rest_<number>).")
    return int(suffix)


def _as_float32_table(rows: np.ndarray, vertex: PlyElement) -> np.ndarray:
    """[N, P] float32 in native byte order from the structured rows (one pass when all are float)."""
    if all(p.dtype == "f4" for p in vertex.properties):
        flat = rows.view(rows.dtype[0]).reshape(len(rows), len(vertex.properties))
        return flat if flat.dtype.isnative else flat.astype(np.float32)
    table = np.empty((len(rows), len(vertex.properties)), dtype=np.float32)
    for i, name in enumerate(vertex.names()):
        table[:, i] = rows[name]
    return table


def _scene_from_table(table: np.ndarray, columns: dict[str, np.ndarray]) -> GaussianScene:
    n = table.shape[0]

    def take(cols: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.take(table, cols.ravel(), axis=1), dtype=np.float32)

    return GaussianScene(
        means=take(columns["means"]),
        quats=take(columns["quats"]),
        log_scales=take(columns["log_scales"]),
        opacity_logits=take(columns["opacity_logits"]).reshape(n),
        sh=take(columns["sh"]).reshape(n, -1, 3),
    )


# ---------------------------------------------------------------------------- writing
def property_names(sh_degree: int) -> list[str]:
    """The INRIA property order for `sh_degree` (what the reference trainer writes)."""
    rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(rest)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def scene_table(scene: GaussianScene) -> np.ndarray:  # [N, P] float32
    """The splats as rows in the INRIA property order (normals zero, f_rest channel-major)."""
    n, k = len(scene), scene.sh.shape[1]
    table = np.zeros((n, 14 + 3 * k), dtype=np.float32)
    table[:, 0:3] = scene.means
    table[:, 6:9] = scene.sh[:, 0]
    rest_end = 9 + 3 * (k - 1)
    table[:, 9:rest_end] = scene.sh[:, 1:].transpose(0, 2, 1).reshape(n, -1)
    table[:, rest_end] = scene.opacity_logits
    table[:, rest_end + 1:rest_end + 4] = scene.log_scales
    table[:, rest_end + 4:rest_end + 8] = scene.quats
    return table


def write_ply(scene: GaussianScene, path: str | Path, encoding: str = "binary_little_endian") -> None:
    if encoding not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unknown PLY encoding {encoding!r}")
    scene.validate(allow_nonfinite=True)
    if len(scene) == 0:
        raise InputError("There are no splats to write.")
    header = (
        f"ply\nformat {encoding} 1.0\nelement vertex {len(scene)}\n"
        + "".join(f"property float {name}\n" for name in property_names(scene.sh_degree))
        + "end_header\n"
    )
    table = scene_table(scene)
    with atomic_write(path) as f:
        f.write(header.encode("ascii"))
        if encoding == "ascii":
            np.savetxt(f, table, fmt="%.9g")  # 9 significant digits round-trip float32 exactly
        else:
            table.astype(">f4" if encoding == "binary_big_endian" else "<f4", copy=False).tofile(f)


def header_of(path: str | Path) -> PlyHeader:
    """The parsed header of a .ply file (for tools and tests)."""
    with open_for_reading(path) as f:
        return read_header(f, path)
