"""The .splat format of antimatter15's WebGL viewer: 32 bytes per splat, no header.

Row: position 3 x float32, linear scale 3 x float32, RGBA 4 x uint8 (color = 0.5 + SH_C0 * dc,
alpha = sigmoid(opacity)), rotation 4 x uint8 (w, x, y, z of the unit quaternion, q * 128 + 128).
SH degree 0 only: writing drops higher bands, reading yields degree 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SplatFileError
from ..gaussians import SH_C0, GaussianScene, NonFinitePolicy
from ._common import atomic_write, check_writable, file_size, finish, open_for_reading

ROW = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rotation", "u1", 4)])
_ALPHA_EPS = 0.5 / 255.0  # keeps alpha 0 / 255 at a finite logit


def read_splat(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    size = file_size(path)
    if size % ROW.itemsize:
        raise SplatFileError(path, f"a .splat file holds 32 bytes per splat, but this one has {size} bytes "
                                   "(not a multiple of 32): it is truncated or not a .splat file.")
    with open_for_reading(path) as f:
        rows = np.fromfile(f, dtype=ROW, count=size // ROW.itemsize)
    if len(rows) * ROW.itemsize != size:
        raise SplatFileError(path, "the file changed or ended while it was read.")
    return finish(scene_from_rows(rows), path, nonfinite)


def scene_from_rows(rows: np.ndarray) -> GaussianScene:
    n = len(rows)
    rgba = rows["rgba"].astype(np.float32) / 255.0
    alpha = np.clip(rgba[:, 3], _ALPHA_EPS, 1.0 - _ALPHA_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_scales = np.log(rows["scale"].astype(np.float32))
    return GaussianScene(
        means=np.ascontiguousarray(rows["position"], dtype=np.float32),
        quats=(rows["rotation"].astype(np.float32) - 128.0) / 128.0,
        log_scales=log_scales,
        opacity_logits=np.log(alpha / (1.0 - alpha)).astype(np.float32),
        sh=((rgba[:, :3] - 0.5) / SH_C0).reshape(n, 1, 3).astype(np.float32),
    )


def rows_from_scene(scene: GaussianScene) -> np.ndarray:
    rows = np.empty(len(scene), dtype=ROW)
    rows["position"] = scene.means
    rows["scale"] = np.exp(scene.log_scales)
    rows["rgba"][:, :3] = np.round(scene.colors() * 255.0)
    rows["rgba"][:, 3] = np.clip(np.round(scene.opacities() * 255.0), 0, 255)
    norm = np.linalg.norm(scene.quats, axis=1, keepdims=True)
    unit = scene.quats / np.where(norm > 0, norm, 1.0)
    rows["rotation"] = np.clip(np.round(unit * 128.0 + 128.0), 0, 255)
    return rows


def write_splat(scene: GaussianScene, path: str | Path) -> None:
    check_writable(scene)
    rows = rows_from_scene(scene)
    with atomic_write(path) as f:
        f.write(rows.tobytes())
