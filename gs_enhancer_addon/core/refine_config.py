"""Hyperparameters of the confidence-aware fine-tuning (core/refine.py), torch-free so that the UI and
the job's configuration import no torch. The device is not a setting: the job passes it to refine()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover (core.render imports torch)
    from .render.settings import Backend


@dataclass
class RefineConfig:
    """Hyperparameters of the fine-tuning; learning rates are those of 3DGS (Kerbl et al. 2023)."""

    iterations: int = 2000  # optimizer steps; our default for fine-tuning an already trained splat
    views_per_step: int = 1  # views per step, a new random order each epoch (3DGS: 1); densify sees the last one
    ssim_weight: float = 0.2  # λ in the loss above (3DGS-Enhancer, 3DGS: 0.2)
    pixel_confidence: bool = True  # weight the L1 term of generated views by P_c
    pixel_confidence_quantile: float = 0.99  # P_c normalization: quantile of the covered pixels' sizes that maps to 1
    image_confidence: bool = True  # weight generated views by I_c (False: all generated views weigh 1)
    lr_means: float = 1.6e-4  # initial means rate, times the scene extent (3DGS position_lr_init)
    lr_means_final: float = 1.6e-6  # final means rate, times the extent, reached by exponential decay
    lr_scales: float = 5e-3  # log-scales (3DGS scaling_lr)
    lr_quats: float = 1e-3  # rotations (3DGS rotation_lr)
    lr_opacities: float = 5e-2  # opacity logits (3DGS opacity_lr)
    lr_sh0: float = 2.5e-3  # SH DC (3DGS feature_lr)
    lr_shN: float = 2.5e-3 / 20  # higher SH bands: feature_lr / 20 (3DGS)
    scene_extent: Optional[float] = None  # None: 1.1 x the largest camera distance to the cameras' mean (3DGS)
    freeze_geometry: bool = False  # optimize colors only (SH); used by stylization
    densify: bool = False  # CUDA only: gsplat DefaultStrategy (clone/split/prune, opacity reset)
    densify_start_iter: int = 500  # gsplat/3DGS refine_start_iter
    densify_stop_iter: int = 15_000  # gsplat/3DGS refine_stop_iter
    densify_every: int = 100  # gsplat/3DGS refine_every
    densify_grad_threshold: float = 2e-4  # gsplat/3DGS grow_grad2d
    prune_opacity: float = 0.005  # gsplat/3DGS prune_opa
    opacity_reset_every: int = 3000  # gsplat/3DGS reset_every
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)  # color behind the Gaussians, as in the targets
    render_backend: Backend = "auto"  # core.render.render: "auto" = gsplat for CUDA tensors, else torch
    seed: int = 0  # view order
