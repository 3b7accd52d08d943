"""Coordinate frames of splat files: RUB (SPZ) <-> RDF (INRIA .ply, .splat, .ksplat, SOG, GaussianScene).

RUB is x right, y up, z back; RDF (OpenCV) is x right, y down, z forward. The change of frame is
S = diag(1, -1, -1), a half turn about x, and its own inverse, so one function converts both ways.
A Gaussian re-expressed in the other frame keeps its shape: means become S p, rotations S R S
(quaternion (w, x, y, z) -> (w, x, -y, -z)), and each real SH basis function Y(S d) = +-Y(d), so
every coefficient keeps or flips its sign (the table below; tests check it against sh_basis).
"""

from __future__ import annotations

import numpy as np

from ..gaussians import GaussianScene

# Sign of each of the 16 SH basis functions (3DGS order: DC; y, z, x; xy, yz, 3zz-1, xz, xx-yy;
# y(3xx-yy), xyz, y(5zz-1), z(5zz-3), x(5zz-1), z(xx-yy), x(xx-3yy)) under (x, y, z) -> (x, -y, -z).
SH_SIGNS_FLIP_YZ = np.array([1, -1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1], dtype=np.float32)
AXIS_SIGNS = np.array([1, -1, -1], dtype=np.float32)
QUAT_SIGNS = np.array([1, 1, -1, -1], dtype=np.float32)  # (w, x, y, z)


def flip_yz(scene: GaussianScene) -> GaussianScene:
    """The same Gaussians expressed in the other frame (RUB <-> RDF); a new scene, flag kept."""
    k = scene.sh.shape[1]
    return GaussianScene(
        means=scene.means * AXIS_SIGNS,
        quats=scene.quats * QUAT_SIGNS,
        log_scales=scene.log_scales.copy(),
        opacity_logits=scene.opacity_logits.copy(),
        sh=scene.sh * SH_SIGNS_FLIP_YZ[:k, None],
        antialiased=scene.antialiased,
    )
