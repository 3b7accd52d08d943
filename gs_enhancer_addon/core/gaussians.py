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
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

SH_C0 = 0.28209479177387814  # Y_0^0 = 1 / (2 sqrt(pi)); color = 0.5 + SH_C0 * dc

FIELDS = ("means", "quats", "log_scales", "opacity_logits", "sh")


@dataclass
class GaussianScene:
    means: np.ndarray  # [N, 3] float32
    quats: np.ndarray  # [N, 4] float32, wxyz
    log_scales: np.ndarray  # [N, 3] float32
    opacity_logits: np.ndarray  # [N] float32
    sh: np.ndarray  # [N, K, 3] float32, K in (1, 4, 9, 16)

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return int(round(np.sqrt(self.sh.shape[1]))) - 1

    def to_torch(self, device="cpu", requires_grad: bool = False) -> "GaussianTensors":
        """Copy into torch tensors on `device` (leaf tensors, optionally requiring grad)."""
        import torch

        def t(a: np.ndarray) -> "torch.Tensor":
            return torch.tensor(a, dtype=torch.float32, device=device, requires_grad=requires_grad)

        return GaussianTensors(*(t(getattr(self, f)) for f in FIELDS))


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
        return int(round(self.sh.shape[1] ** 0.5)) - 1

    @property
    def device(self):
        return self.means.device

    def to_scene(self) -> GaussianScene:
        """Detach to a new numpy GaussianScene (float32, contiguous)."""
        return GaussianScene(
            *(np.ascontiguousarray(getattr(self, f).detach().cpu().numpy(), dtype=np.float32) for f in FIELDS)
        )
