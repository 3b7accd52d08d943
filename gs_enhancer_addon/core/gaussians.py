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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Literal

import numpy as np

from .errors import InputError
from .geometry import (SH_C0, decompose_similarity, quat_from_matrix, quat_multiply, rotate_sh,
                       sh_coefficient_count, sh_degree_of_count)

if TYPE_CHECKING:  # pragma: no cover
    import torch

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


@dataclass
class GaussianScene:
    means: np.ndarray  # [N, 3] float32
    quats: np.ndarray  # [N, 4] float32, wxyz
    log_scales: np.ndarray  # [N, 3] float32
    opacity_logits: np.ndarray  # [N] float32
    sh: np.ndarray  # [N, K, 3] float32, K in (1, 4, 9, 16)
    # Trained with Mip-Splatting's 2D filter (an SPZ file's antialiased flag): rendered with
    # RenderSettings(antialiased=True) by the job and the fine-tuning; kept by every method here.
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
        return GaussianScene(*(np.array(getattr(self, f), dtype=np.float32, copy=True) for f in FIELDS),
                             antialiased=self.antialiased)

    def subset(self, index) -> "GaussianScene":
        """The splats picked by a boolean mask [N] or an integer index array (copied, contiguous)."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise InputError(f"Mask has shape {list(index.shape)}; expected [{len(self)}].")
        return GaussianScene(*(np.ascontiguousarray(getattr(self, f)[index]) for f in FIELDS),
                             antialiased=self.antialiased)

    def with_sh_degree(self, degree: int) -> "GaussianScene":
        """The same splats with SH truncated or zero-padded to `degree` (0-3)."""
        if degree not in (0, 1, 2, 3):
            raise InputError(f"SH degree must be 0-3, got {degree}.")
        k = sh_coefficient_count(degree)
        sh = np.zeros((len(self), k, 3), dtype=np.float32)
        keep = min(k, self.sh.shape[1])
        sh[:, :keep] = self.sh[:, :keep]
        return GaussianScene(self.means.copy(), self.quats.copy(), self.log_scales.copy(),
                             self.opacity_logits.copy(), sh, antialiased=self.antialiased)

    @classmethod
    def concat(cls, scenes: Iterable["GaussianScene"]) -> "GaussianScene":
        """All splats of `scenes` in order; SH is zero-padded to the highest degree among them; antialiased
        only when every scene is."""
        scenes = list(scenes)
        if not scenes:
            raise InputError("Nothing to concatenate: no Gaussian scenes were given.")
        degree = max(s.sh_degree for s in scenes)
        scenes = [s if s.sh_degree == degree else s.with_sh_degree(degree) for s in scenes]
        return cls(*(np.concatenate([getattr(s, f) for s in scenes]) for f in FIELDS),
                   antialiased=all(s.antialiased for s in scenes))

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
        quats = quat_multiply(quat_from_matrix(rotation), self.quats.astype(np.float64)).astype(np.float32)
        log_scales = (self.log_scales + np.float32(np.log(scale))).astype(np.float32)
        sh = rotate_sh(self.sh, rotation)
        return GaussianScene(means, quats, log_scales, self.opacity_logits.copy(), sh, antialiased=self.antialiased)


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
