"""The INRIA 3DGS .ply layout: read (any encoding, property order and numeric type) and write.

Layout (Kerbl et al. 2023, "3D Gaussian Splatting for Real-Time Radiance Field Rendering"):
one `vertex` element with x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2
rot_0..3, f_rest channel-major (all red coefficients, then green, then blue), scales as logs,
opacity as a logit, rot as (w, x, y, z). SuperSplat compressed files are detected and decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy, nonfinite_rows, sh_coefficient_count, sh_degree_of_count
from . import compressed_ply
from ._common import atomic_write, check_writable, file_size, finish, nonfinite_keep_mask, open_for_reading
from .ply_header import PlyElement, PlyHeader, iter_float_blocks, read_ascii_elements, read_header
from .sh_layout import f_rest_file_order, f_rest_names, rest_degree

BASE_PROPERTIES = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                   "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")


def read_ply(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    size = file_size(path)
    with open_for_reading(path) as f:
        header = read_header(f, path)
        if compressed_ply.is_compressed(header):
            return finish(compressed_ply.decode(f, path, header, size), path, nonfinite)
        vertex = _vertex_element(header, path)
        columns = splat_columns(vertex, path)
        blocks = _blocks(f, path, header, size, vertex)
        scene = _empty_scene(vertex.count, columns["sh"].shape[0])
        for start, block in blocks:
            _fill_scene(scene, start, block, columns)
    return finish(scene, path, nonfinite)


def read_ply_rows(path: str | Path, nonfinite: NonFinitePolicy = "error") -> tuple[list[str], np.ndarray] | None:
    """For an INRIA 3DGS .ply: (property names in INRIA order, float32 table [P, N]), one
    contiguous row per property, normals and extra properties left out. This is the layout
    Blender attributes take, decoded without building [N, ...] arrays first. None for files
    that are not plain INRIA .ply (compressed); errors as read_ply.
    """
    size = file_size(path)
    with open_for_reading(path) as f:
        header = read_header(f, path)
        if compressed_ply.is_compressed(header):
            return None
        vertex = _vertex_element(header, path)
        columns = splat_columns(vertex, path)
        order = np.concatenate([columns["means"], columns["sh"][0], columns["sh"][1:].T.ravel(), columns["opacity_logits"],
                                columns["log_scales"], columns["quats"]])
        names = row_names(sh_degree_of_count(columns["sh"].shape[0]))
        blocks = _blocks(f, path, header, size, vertex)
        table = np.empty((len(order), vertex.count), dtype=np.float32)
        bad = np.zeros(vertex.count, dtype=bool)
        runs = _runs(order)
        for start, block in blocks:
            stop = start + len(block)
            for dst, src, length in runs:
                table[dst:dst + length, start:stop] = block[:, src:src + length].T
            bad[start:stop] = nonfinite_rows(block)
    table = _apply_row_policy(table, bad, path, nonfinite)
    return names, table


def _apply_row_policy(table: np.ndarray, bad: np.ndarray, path, nonfinite: NonFinitePolicy) -> np.ndarray:
    keep = nonfinite_keep_mask(bad, path, nonfinite)
    return table if keep is None else np.ascontiguousarray(table[:, keep])


def _blocks(f, path, header: PlyHeader, size: int, vertex: PlyElement):
    """(first row, float32 rows) blocks of the vertex element; the sizes the header claims are
    checked against the file here, before the caller allocates anything for them."""
    if header.encoding == "ascii":
        return [(0, read_ascii_elements(f, path, header, {"vertex"})["vertex"].astype(np.float32))]
    return iter_float_blocks(f, path, header, size, vertex)


def _vertex_element(header: PlyHeader, path) -> PlyElement:
    vertex = header.element("vertex")
    if vertex is None:
        raise SplatFileError(path, "the PLY file has no 'vertex' element, so it holds no splats.")
    if vertex.count == 0:
        raise SplatFileError(path, "the file contains no splats (the vertex count is 0).")
    return vertex


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
    degree = rest_degree(names)
    if degree is None:
        rest = sum(1 for n in names if n.startswith("f_rest_"))
        raise SplatFileError(path, f"found {rest} f_rest_* properties; a 3DGS file has f_rest_0.. with "
                                   "0, 9, 24 or 45 of them (SH degree 0-3).")
    k = sh_coefficient_count(degree)
    rest_names = f_rest_names(degree)
    sh = np.empty((k, 3), dtype=np.intp)
    for c in range(3):
        sh[0, c] = index[f"f_dc_{c}"]
        for j in range(1, k):
            sh[j, c] = index[rest_names[c][j - 1]]
    return {
        "means": np.array([index[n] for n in ("x", "y", "z")]),
        "quats": np.array([index[f"rot_{i}"] for i in range(4)]),
        "log_scales": np.array([index[f"scale_{i}"] for i in range(3)]),
        "opacity_logits": np.array([index["opacity"]]),
        "sh": sh,
    }


def _empty_scene(n: int, k: int) -> GaussianScene:
    return GaussianScene(
        means=np.empty((n, 3), dtype=np.float32),
        quats=np.empty((n, 4), dtype=np.float32),
        log_scales=np.empty((n, 3), dtype=np.float32),
        opacity_logits=np.empty(n, dtype=np.float32),
        sh=np.empty((n, k, 3), dtype=np.float32),
    )


def _fill_scene(scene: GaussianScene, start: int, block: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Copy one block of rows [b, P] into the scene's arrays at `start` (cache-resident copies)."""
    stop = start + len(block)
    for name in ("means", "quats", "log_scales"):
        getattr(scene, name)[start:stop] = _gather(block, columns[name])
    scene.opacity_logits[start:stop] = block[:, columns["opacity_logits"][0]]
    sh = columns["sh"]
    scene.sh[start:stop, 0] = _gather(block, sh[0])
    for c in range(3):
        if sh.shape[0] > 1:
            scene.sh[start:stop, 1:, c] = _gather(block, sh[1:, c])


def _gather(block: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """block[:, cols], as a view when the columns are consecutive (numpy's fancy indexing along
    axis 1 is several times slower than a slice or np.take)."""
    first = int(cols[0])
    if np.array_equal(cols, np.arange(first, first + len(cols))):
        return block[:, first:first + len(cols)]
    return np.take(block, cols, axis=1)


def _runs(cols: np.ndarray) -> list[tuple[int, int, int]]:
    """(destination start, source start, length) of each run of consecutive source columns."""
    runs, begin = [], 0
    for i in range(1, len(cols) + 1):
        if i == len(cols) or cols[i] != cols[i - 1] + 1:
            runs.append((begin, int(cols[begin]), i - begin))
            begin = i
    return runs


# ---------------------------------------------------------------------------- writing
def property_names(sh_degree: int) -> list[str]:
    """The INRIA property order for `sh_degree` (what the reference trainer writes)."""
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + f_rest_file_order(sh_degree)
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def row_names(sh_degree: int) -> list[str]:
    """The property names of `read_ply_rows` / `scene_rows`: the INRIA order without the normals."""
    names = property_names(sh_degree)
    return names[:3] + names[6:]


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


def scene_rows(scene: GaussianScene) -> tuple[list[str], np.ndarray]:
    """(INRIA property names without normals, float32 [P, N] with one contiguous row each):
    the layout `read_ply_rows` returns, built from a scene."""
    n, k = len(scene), scene.sh.shape[1]
    names = row_names(scene.sh_degree)
    table = np.empty((len(names), n), dtype=np.float32)
    table[0:3] = scene.means.T
    table[3:6] = scene.sh[:, 0].T
    for c in range(3):
        table[6 + c * (k - 1):6 + (c + 1) * (k - 1)] = scene.sh[:, 1:, c].T
    rest_end = 6 + 3 * (k - 1)
    table[rest_end] = scene.opacity_logits
    table[rest_end + 1:rest_end + 4] = scene.log_scales.T
    table[rest_end + 4:rest_end + 8] = scene.quats.T
    return names, table


def write_ply(scene: GaussianScene, path: str | Path, encoding: str = "binary_little_endian") -> None:
    if encoding not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unknown PLY encoding {encoding!r}")
    check_writable(scene)
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
