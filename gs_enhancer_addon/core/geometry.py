"""Rotation and spherical-harmonics maths shared by the data model, the cameras and the renderer.

numpy only at import (the torch-free bpy 4.2 test leg uses it). The SH basis is written once over
plain arithmetic (`sh_basis_terms`), so the same formulas serve numpy here and torch in
core/render/sh.py.

- Quaternions are (w, x, y, z) Hamilton quaternions, as in 3DGS files and gsplat.
- SH: real spherical harmonics up to degree 3 in the basis and sign convention of 3DGS / gsplat
  (Kerbl et al., SIGGRAPH 2023), normalisations from Sloan, "Stupid Spherical Harmonics Tricks"
  (2008); coefficient order as in the INRIA .ply layout.
"""

from __future__ import annotations

import math
import numpy as np

from .errors import InputError

# Real SH normalisations in the 3DGS / gsplat sign convention; colour = 0.5 + SH_C0 * dc + higher bands.
SH_C0 = 0.5 / math.sqrt(math.pi)  # 0.28209479177387814
SH_C1 = math.sqrt(3.0 / (4.0 * math.pi))  # 0.4886025119029199
SH_C2 = (
    0.5 * math.sqrt(15.0 / math.pi),  # xy
    -0.5 * math.sqrt(15.0 / math.pi),  # yz
    0.25 * math.sqrt(5.0 / math.pi),  # 2zz - xx - yy
    -0.5 * math.sqrt(15.0 / math.pi),  # xz
    0.25 * math.sqrt(15.0 / math.pi),  # xx - yy
)
SH_C3 = (
    -0.25 * math.sqrt(35.0 / (2.0 * math.pi)),  # y (3xx - yy)
    0.5 * math.sqrt(105.0 / math.pi),  # xyz
    -0.25 * math.sqrt(21.0 / (2.0 * math.pi)),  # y (4zz - xx - yy)
    0.25 * math.sqrt(7.0 / math.pi),  # z (2zz - 3xx - 3yy)
    -0.25 * math.sqrt(21.0 / (2.0 * math.pi)),  # x (4zz - xx - yy)
    0.25 * math.sqrt(105.0 / math.pi),  # z (xx - yy)
    -0.25 * math.sqrt(35.0 / (2.0 * math.pi)),  # x (xx - 3yy)
)


def sh_coefficient_count(degree: int) -> int:
    """K = (degree + 1)^2 coefficients per colour channel."""
    return (degree + 1) ** 2


def sh_degree_of_count(k: int) -> int:
    """The SH degree whose coefficient count is `k` (1, 4, 9, 16); ValueError otherwise."""
    degree = int(round(math.sqrt(k))) - 1
    if degree < 0 or sh_coefficient_count(degree) != k:
        raise ValueError(f"{k} is not an SH coefficient count (1, 4, 9 or 16)")
    return degree


def sh_basis_terms(degree: int, x, y, z) -> list:
    """The real SH basis functions Y_k(d), k < (degree + 1)^2, at unit directions d = (x, y, z).

    x, y, z are arrays of one shape (numpy or torch: only arithmetic is used); Y_0 is returned as
    `x * 0 + SH_C0` so every term has the input's shape, dtype and device."""
    out = [x * 0.0 + SH_C0]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [SH_C2[0] * x * y, SH_C2[1] * y * z, SH_C2[2] * (2.0 * zz - xx - yy), SH_C2[3] * x * z,
                SH_C2[4] * (xx - yy)]
    if degree >= 3:
        out += [SH_C3[0] * y * (3.0 * xx - yy), SH_C3[1] * x * y * z, SH_C3[2] * y * (4.0 * zz - xx - yy),
                SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy), SH_C3[4] * x * (4.0 * zz - xx - yy),
                SH_C3[5] * z * (xx - yy), SH_C3[6] * x * (xx - 3.0 * yy)]
    return out


def sh_basis(dirs: np.ndarray, degree: int = 3) -> np.ndarray:  # [M, 3] unit -> [M, (degree+1)^2]
    """numpy SH basis; colour = 0.5 + sum_k basis[:, k] * sh[:, k]."""
    dirs = np.asarray(dirs)
    return np.stack(sh_basis_terms(degree, dirs[:, 0], dirs[:, 1], dirs[:, 2]), axis=1)


def rotate_sh(sh: np.ndarray, rotation: np.ndarray) -> np.ndarray:  # [N, K, 3]
    """SH coefficients of the colour function seen after rotating the splat by `rotation` [3, 3].

    Each band l is mapped onto itself by a (2l+1)x(2l+1) matrix D with Y(d) D = Y(R^T d); D is
    solved by least squares on fixed well-spread directions (exact, since bands are closed under
    rotation), which avoids hand-written Wigner matrices for every sign convention.
    """
    k = sh.shape[1]
    out = sh.copy()
    if k == 1:
        return out
    degree = sh_degree_of_count(k)
    dirs = np.random.default_rng(0).standard_normal((64, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    before = sh_basis(dirs @ np.asarray(rotation, dtype=np.float64), degree)  # Y(R^T d) for each row d
    after = sh_basis(dirs, degree)
    for band in range(1, degree + 1):
        cols = slice(band * band, (band + 1) * (band + 1))
        d, *_ = np.linalg.lstsq(after[:, cols], before[:, cols], rcond=None)
        out[:, cols] = np.einsum("ij,njc->nic", d, sh[:, cols].astype(np.float64)).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------- quaternions
def quat_from_matrix(R: np.ndarray) -> np.ndarray:  # [4] (w, x, y, z), w >= 0
    """Unit quaternion of a rotation matrix [3, 3] (Shepperd's method, numerically stable)."""
    R = np.asarray(R, dtype=np.float64)
    trace = np.trace(R)
    candidates = np.array([trace, R[0, 0], R[1, 1], R[2, 2]])
    i = int(np.argmax(candidates))
    if i == 0:
        w = math.sqrt(max(1.0 + trace, 0.0)) / 2
        q = [w, (R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w), (R[1, 0] - R[0, 1]) / (4 * w)]
    else:
        j, k = (i % 3) + 1, ((i + 1) % 3) + 1  # the two other axes, 1-based
        a = i - 1
        b, c = j - 1, k - 1
        s = math.sqrt(max(1.0 + R[a, a] - R[b, b] - R[c, c], 0.0)) * 2
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (R[c, b] - R[b, c]) / s
        q[i] = s / 4
        q[j] = (R[b, a] + R[a, b]) / s
        q[k] = (R[c, a] + R[a, c]) / s
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:  # [3, 3]
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b for wxyz quaternions (broadcasting over leading axes)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quats_from_z_to(directions: np.ndarray) -> np.ndarray:  # [N, 3] unit -> [N, 4] wxyz
    """Shortest-arc rotations taking +Z onto each unit direction (e.g. surfels lying on a surface)."""
    directions = np.asarray(directions, dtype=np.float64)
    quats = np.concatenate([1.0 + directions[:, 2:3], -directions[:, 1:2], directions[:, 0:1],
                            np.zeros((len(directions), 1))], axis=1)  # w = 1 + z.d, axis = z x d
    quats[quats[:, 0] < 1e-8] = (0.0, 1.0, 0.0, 0.0)  # d == -Z: half a turn about X
    return quats / np.linalg.norm(quats, axis=1, keepdims=True)


def slerp(q0: np.ndarray, q1: np.ndarray, u: float) -> np.ndarray:  # [4]
    """Shortest-arc spherical interpolation between unit quaternions (Shoemake 1985)."""
    q0, q1 = np.asarray(q0, dtype=np.float64), np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:  # q and -q are the same rotation: take the short way round
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: normalized lerp is exact to float precision
        q = q0 + u * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(min(dot, 1.0))
    return (math.sin((1 - u) * theta) * q0 + math.sin(u * theta) * q1) / math.sin(theta)


def rotation_angle(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Geodesic angle in radians [0, pi] between two rotations [3, 3]."""
    cos = (np.trace(np.asarray(Ra).T @ np.asarray(Rb)) - 1.0) / 2.0
    return float(math.acos(min(1.0, max(-1.0, cos))))


# ---------------------------------------------------------------------------------- similarities
def decompose_similarity(matrix: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Split a 4x4 matrix into (rotation [3,3], uniform scale, translation [3]); InputError otherwise."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise InputError(f"Expected a finite 4x4 transform matrix, got shape {list(m.shape)}.")
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0), atol=1e-9):
        raise InputError("The transform has a perspective part; only rotation, uniform scale and "
                         "translation can be applied to Gaussians.")
    linear = m[:3, :3]
    scales = np.linalg.norm(linear, axis=0)
    if scales.min() <= 1e-12:
        raise InputError("The transform collapses an axis (zero scale); it cannot be applied to Gaussians.")
    if scales.max() / scales.min() - 1.0 > 1e-4:
        raise InputError(
            "The object has a non-uniform scale "
            f"({scales[0]:.4g}, {scales[1]:.4g}, {scales[2]:.4g}); Gaussians can only take a uniform "
            "scale. Apply the scale (Ctrl+A > Scale) or make it uniform first."
        )
    scale = float(scales.mean())
    rotation = linear / scale
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-4):
        raise InputError("The transform has a shear; it cannot be applied to Gaussians.")
    if np.linalg.det(rotation) < 0:
        raise InputError("The transform mirrors the object (negative scale); it cannot be applied to Gaussians.")
    return rotation, scale, m[:3, 3].copy()

