"""GaussianScene: the project's data model for a 3D Gaussian Splatting capture.

Contract (see DESIGN.md): float32 numpy arrays in object-local coordinates,
    means          [N, 3]
    quats          [N, 4]   (w, x, y, z), not necessarily normalized
    log_scales     [N, 3]   natural log of the per-axis standard deviations
    opacity_logits [N]      opacity = sigmoid(opacity_logits)
    sh             [N, K, 3] K = (degree + 1) ** 2, sh[:, 0] is the DC term
This module imports numpy only; torch is imported lazily by the torch bridge so that the
Blender side (and the bpy 4.2 test leg, which has no torch) can use the data model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal

import numpy as np

from .cameras import quat_from_matrix
from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

# Real SH normalisations in the 3DGS / gsplat sign convention (Sloan, "Stupid SH Tricks", 2008);
# color = 0.5 + SH_C0 * dc + higher bands.
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

FIELDS = ("means", "quats", "log_scales", "opacity_logits", "sh")

# What a reader does with splats holding NaN or +-Inf: refuse the file, drop them, or keep them.
NonFinitePolicy = Literal["error", "drop", "keep"]

_TRAILING_SHAPES = {"means": (3,), "quats": (4,), "log_scales": (3,), "opacity_logits": ()}


def nonfinite_rows(table: np.ndarray) -> np.ndarray:  # [N] bool
    """True for rows of `table` [N, C] holding a NaN or +-Inf.

    A row sum is NaN/Inf whenever the row holds one, so only rows whose sum is not finite (those,
    or rows of huge values whose sum overflows) are checked element by element.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        suspects = np.flatnonzero(~np.isfinite(table @ np.ones(table.shape[1], dtype=table.dtype)))
    bad = np.zeros(table.shape[0], dtype=bool)
    if len(suspects):
        bad[suspects] = ~np.isfinite(table[suspects]).all(axis=1)
    return bad


def sh_coefficient_count(degree: int) -> int:
    """K = (degree + 1)^2 coefficients per color channel (1, 4, 9, 16 for degrees 0-3)."""
    return (degree + 1) ** 2


def sh_degree_of_count(k: int) -> int:
    """SH degree from the number of coefficients per channel, K = (degree + 1) ** 2."""
    return int(round(k ** 0.5)) - 1


@dataclass
class GaussianScene:
    means: np.ndarray  # [N, 3] float32
    quats: np.ndarray  # [N, 4] float32, wxyz
    log_scales: np.ndarray  # [N, 3] float32
    opacity_logits: np.ndarray  # [N] float32
    sh: np.ndarray  # [N, K, 3] float32, K in (1, 4, 9, 16)
    # Trained with Mip-Splatting's 2D filter (an SPZ file's antialiased flag): render these with
    # RenderSettings(antialiased=True). Recorded by the readers; not carried through copy()/subset().
    antialiased: bool = False

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_of_count(self.sh.shape[1])

    def to_torch(self, device="cpu", requires_grad: bool = False) -> "GaussianTensors":
        """Copy into torch tensors on `device` (leaf tensors, optionally requiring grad)."""
        import torch

        def t(a: np.ndarray) -> "torch.Tensor":
            return torch.tensor(a, dtype=torch.float32, device=device, requires_grad=requires_grad)

        return GaussianTensors(*(t(getattr(self, f)) for f in FIELDS))

    # ------------------------------------------------------------------ checks
    def validate(self, allow_nonfinite: bool = False) -> None:
        """Raise InputError naming the first field with a wrong type, dtype, shape or value."""
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise InputError(f"GaussianScene.{name} must be a numpy array, got {type(value).__name__}.")
            if value.dtype != np.float32:
                raise InputError(f"GaussianScene.{name} must be float32, got {value.dtype}.")
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        for name, trailing in _TRAILING_SHAPES.items():
            shape = getattr(self, name).shape
            if shape != (n, *trailing):
                want = "[" + ", ".join(["N", *map(str, trailing)]) + "]"
                raise InputError(f"GaussianScene.{name} has shape {list(shape)}; expected {want} with N = {n}.")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3 or self.sh.shape[1] not in (1, 4, 9, 16):
            raise InputError(
                f"GaussianScene.sh has shape {list(self.sh.shape)}; expected [N, K, 3] with N = {n} and "
                "K in 1, 4, 9, 16 (SH degree 0-3)."
            )
        if not allow_nonfinite:
            bad = int(np.count_nonzero(self.nonfinite_mask()))
            if bad:
                raise InputError(f"{bad} of {n} splats contain NaN or infinite values.")

    def nonfinite_mask(self) -> np.ndarray:  # [N] bool
        """True for splats with a NaN or +-Inf in any field."""
        bad = np.zeros(len(self), dtype=bool)
        for name in FIELDS:
            bad |= nonfinite_rows(getattr(self, name).reshape(len(self), -1))
        return bad

    # ------------------------------------------------------------------ helpers
    def copy(self) -> "GaussianScene":
        return GaussianScene(*(np.array(getattr(self, f), dtype=np.float32, copy=True) for f in FIELDS))

    def subset(self, index) -> "GaussianScene":
        """The splats picked by a boolean mask [N] or an integer index array (copied, contiguous)."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise InputError(f"Mask has shape {list(index.shape)}; expected [{len(self)}].")
        return GaussianScene(*(np.ascontiguousarray(getattr(self, f)[index]) for f in FIELDS))

    def with_sh_degree(self, degree: int) -> "GaussianScene":
        """The same splats with SH truncated or zero-padded to `degree` (0-3)."""
        if degree not in (0, 1, 2, 3):
            raise InputError(f"SH degree must be 0-3, got {degree}.")
        k = sh_coefficient_count(degree)
        sh = np.zeros((len(self), k, 3), dtype=np.float32)
        keep = min(k, self.sh.shape[1])
        sh[:, :keep] = self.sh[:, :keep]
        return GaussianScene(self.means.copy(), self.quats.copy(), self.log_scales.copy(),
                             self.opacity_logits.copy(), sh)

    @classmethod
    def concat(cls, scenes: Iterable["GaussianScene"]) -> "GaussianScene":
        """All splats of `scenes` in order; SH is zero-padded to the highest degree among them."""
        scenes = list(scenes)
        if not scenes:
            raise InputError("Nothing to concatenate: no Gaussian scenes were given.")
        degree = max(s.sh_degree for s in scenes)
        scenes = [s if s.sh_degree == degree else s.with_sh_degree(degree) for s in scenes]
        return cls(*(np.concatenate([getattr(s, f) for s in scenes]) for f in FIELDS))

    def colors(self) -> np.ndarray:  # [N, 3] float32 in [0, 1]
        """View-independent RGB from the DC term: 0.5 + SH_C0 * dc, clipped to [0, 1]."""
        return np.clip(0.5 + SH_C0 * self.sh[:, 0], 0.0, 1.0).astype(np.float32)

    def opacities(self) -> np.ndarray:  # [N] float32 in [0, 1]
        """sigmoid(opacity_logits), computed without overflow warnings."""
        return (0.5 * (1.0 + np.tanh(0.5 * self.opacity_logits))).astype(np.float32)

    def transformed(self, matrix: np.ndarray) -> "GaussianScene":
        """The splats moved by a 4x4 similarity transform (rotation, uniform scale, translation).

        Means are transformed, rotations composed, log-scales shifted by log(scale), and the
        higher SH bands rotated so view-dependent color follows the rotation. Non-uniform scale,
        shear or mirroring cannot be represented by Gaussians in this form: InputError.
        """
        rotation, scale, translation = decompose_similarity(matrix)
        means = (self.means.astype(np.float64) @ (rotation * scale).T + translation).astype(np.float32)
        quats = _quat_multiply(quat_from_matrix(rotation), self.quats.astype(np.float64)).astype(np.float32)
        log_scales = (self.log_scales + np.float32(np.log(scale))).astype(np.float32)
        sh = rotate_sh(self.sh, rotation)
        return GaussianScene(means, quats, log_scales, self.opacity_logits.copy(), sh)

    # ------------------------------------------------------------------ files
    @classmethod
    def from_file(cls, path: str | Path, nonfinite: NonFinitePolicy = "error") -> "GaussianScene":
        """Read .ply (INRIA layout or SuperSplat compressed) or .splat, chosen by content and extension."""
        from .io import read_scene

        return read_scene(path, nonfinite=nonfinite)

    def to_file(self, path: str | Path) -> None:
        """Write .ply (INRIA layout, binary little-endian) or .splat, chosen by extension."""
        from .io import write_scene

        write_scene(self, path)

    @classmethod
    def from_ply(cls, path: str | Path, nonfinite: NonFinitePolicy = "error") -> "GaussianScene":
        """Read an INRIA 3DGS .ply (binary LE/BE or ascii) or a SuperSplat compressed .ply."""
        from .io.ply import read_ply

        return read_ply(path, nonfinite=nonfinite)

    def to_ply(self, path: str | Path, encoding: str = "binary_little_endian") -> None:
        """Write the INRIA 3DGS layout; `encoding` is binary_little_endian, binary_big_endian or ascii."""
        from .io.ply import write_ply

        write_ply(self, path, encoding=encoding)


# ---------------------------------------------------------------------- transforms
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


def quats_from_z_to(directions: np.ndarray) -> np.ndarray:  # [N, 3] unit -> [N, 4] wxyz
    """Shortest-arc rotations taking +Z onto each unit direction (e.g. surfels lying on a surface)."""
    directions = np.asarray(directions, dtype=np.float64)
    quats = np.concatenate([1.0 + directions[:, 2:3], -directions[:, 1:2], directions[:, 0:1],
                            np.zeros((len(directions), 1))], axis=1)  # w = 1 + z.d, axis = z x d
    quats[quats[:, 0] < 1e-8] = (0.0, 1.0, 0.0, 0.0)  # d == -Z: half a turn about X
    return quats / np.linalg.norm(quats, axis=1, keepdims=True)


def _quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b for wxyz quaternions (broadcasting over leading axes)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def sh_basis(dirs: np.ndarray) -> np.ndarray:  # [M, 16]
    """The real SH basis used by 3DGS renderers (INRIA / gsplat sign conventions), degree 3.

    `dirs` [M, 3] are unit view directions; color = 0.5 + sum_k basis[:, k] * sh[:, k].
    """
    x, y, z = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    xx, yy, zz = x * x, y * y, z * z
    c1, c2, c3 = SH_C1, SH_C2, SH_C3
    return np.stack([
        np.full_like(x, SH_C0),
        -c1 * y, c1 * z, -c1 * x,
        c2[0] * x * y, c2[1] * y * z, c2[2] * (2 * zz - xx - yy), c2[3] * x * z, c2[4] * (xx - yy),
        c3[0] * y * (3 * xx - yy), c3[1] * x * y * z, c3[2] * y * (4 * zz - xx - yy),
        c3[3] * z * (2 * zz - 3 * xx - 3 * yy), c3[4] * x * (4 * zz - xx - yy), c3[5] * z * (xx - yy),
        c3[6] * x * (xx - 3 * yy),
    ], axis=1)


def rotate_sh(sh: np.ndarray, rotation: np.ndarray) -> np.ndarray:  # [N, K, 3]
    """SH coefficients of the color function seen after rotating the splat by `rotation` [3, 3].

    Each band l is mapped onto itself by a (2l+1)x(2l+1) matrix D with Y(d) D = Y(R^T d); D is
    solved by least squares on fixed well-spread directions (exact, since bands are closed under
    rotation), which avoids hand-written Wigner matrices for every sign convention.
    """
    k = sh.shape[1]
    out = sh.copy()
    if k == 1:
        return out
    dirs = np.random.default_rng(0).standard_normal((64, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    before = sh_basis(dirs @ np.asarray(rotation, dtype=np.float64))  # Y(R^T d) for each row d
    after = sh_basis(dirs)
    for band in range(1, int(round(np.sqrt(k)))):
        cols = slice(band * band, (band + 1) * (band + 1))
        d, *_ = np.linalg.lstsq(after[:, cols], before[:, cols], rcond=None)
        out[:, cols] = np.einsum("ij,njc->nic", d, sh[:, cols].astype(np.float64)).astype(np.float32)
    return out


@dataclass
class GaussianTensors:
    """The same fields as GaussianScene, as float32 torch tensors on one device."""

    means: "torch.Tensor"  # [N, 3]
    quats: "torch.Tensor"  # [N, 4] wxyz
    log_scales: "torch.Tensor"  # [N, 3]
    opacity_logits: "torch.Tensor"  # [N]
    sh: "torch.Tensor"  # [N, K, 3]

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_of_count(self.sh.shape[1])

    @property
    def device(self):
        return self.means.device

    def to_scene(self) -> GaussianScene:
        """Detach to a new numpy GaussianScene (float32, contiguous)."""
        return GaussianScene(
            *(np.ascontiguousarray(getattr(self, f).detach().cpu().numpy(), dtype=np.float32) for f in FIELDS)
        )
