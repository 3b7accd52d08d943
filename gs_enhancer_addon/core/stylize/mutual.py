"""2D-3D mutual learning: a CLIPstyler network f and the Gaussians teach each other.

StylizedNeRF (Huang et al., "StylizedNeRF: Consistent 3D Scene Stylization as Stylized NeRF via
2D-3D Mutual Learning", CVPR 2022): per-frame 2D stylization is inconsistent across views; fitting
the 3D model to the 2D results averages the inconsistencies away, and a mimic loss pulling the 2D
network toward the 3D renders makes the 2D results consistent in turn. Here the 2D network is
CLIPstyler's f (Kwon & Ye, CVPR 2022) and the 3D model is the Gaussian splat, fitted through the
confidence-aware refinement (core/refine.py; colours only by default).

Schedule (MutualConfig): pre-train f alone (`StyleNetConfig.iterations`), fit the Gaussians to its
outputs, then `rounds` times: update f with the CLIP + content + tv + mimic losses against the
current renders, and fit the Gaussians again to f's new outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np
import torch

from ..cameras import Camera
from ..errors import InputError
from ..gaussians import GaussianScene
from ..progress import CancelFn, ProgressFn, check_cancel, report, sub_progress
from ..refine import RefineConfig, TrainingView, refine
from ..render.settings import RenderSettings
from ..render.views import render_views_chw
from .clip_model import ClipModel
from .config import StylizeConfig
from .trainer import ContentNet, StyleTrainer


@dataclass
class StylizeResult:
    scene: GaussianScene  # the stylized Gaussians (the input scene when stylization is off)
    per_frame_2d: list[np.ndarray] = field(default_factory=list)  # f alone after pre-training, V x [H, W, 3]
    final_2d: list[np.ndarray] = field(default_factory=list)  # f after mutual learning, V x [H, W, 3]
    rounds: list[dict] = field(default_factory=list)  # with evaluate=True, per fit: "total", its terms, "fit_mse"


def _fit(scene, cameras, targets, confidences, config: RefineConfig, cancel, device) -> GaussianScene:
    views = [TrainingView(camera=cam, image=t.permute(1, 2, 0).cpu().numpy(), confidence=c)
             for cam, t, c in zip(cameras, targets, confidences)]
    return refine(scene, views, config, cancel=cancel, device=device)


def _evaluate(trainer: StyleTrainer, renders, lambda_mimic: float) -> dict:
    """Mutual objective, crops from a fixed seed: style terms of f + mimic, plus the 3D fit error.
    Reads the trainer only: its own crop generator (training's random stream) is left alone."""
    crops = torch.Generator().manual_seed(12345)
    sums: dict[str, float] = {}
    with torch.no_grad():
        for i in range(len(trainer.views)):
            out = trainer.net(trainer.views[i])
            terms = trainer.loss_terms(i, out, crops, renders[i].unsqueeze(0), lambda_mimic)
            terms["fit_mse"] = torch.mean((out[0] - renders[i]) ** 2)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.item() / len(trainer.views)
    return sums


def stylize_scene(
    scene: GaussianScene,
    cameras: Sequence[Camera],  # the trajectory's views
    images: Sequence[np.ndarray],  # V x [H, W, 3] in [0, 1]: rendered or enhanced content views
    config: StylizeConfig,
    clip: ClipModel,
    content_net: ContentNet,
    refine_config: Optional[RefineConfig] = None,  # base settings; iterations/colours-only set per round
    confidences: Optional[Sequence[float]] = None,  # image-level confidence per view (default 1)
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    evaluate: bool = False,  # also score every round (result.rounds): benchmarks and tests; costs a pass over all views
    device: Optional[torch.device] = None,  # where the Gaussians are fitted and rendered; None: CLIP's device
) -> StylizeResult:
    """Stylize `scene` after `config.text`; an empty text returns the scene untouched."""
    if not config.enabled:
        return StylizeResult(scene)
    if len(cameras) != len(images):
        raise InputError(f"Stylization got {len(cameras)} cameras but {len(images)} images.")
    m, device = config.mutual, torch.device(device) if device is not None else clip.device
    confidences = list(confidences) if confidences is not None else [1.0] * len(cameras)
    fit_config = replace(refine_config or RefineConfig(), iterations=m.refine_iterations,
                         freeze_geometry=m.colors_only)
    views = [torch.as_tensor(np.asarray(im, np.float32)).permute(2, 0, 1) for im in images]
    trainer = StyleTrainer(clip, content_net, config.text, views, config.losses, config.network)
    phases = 1 + m.rounds
    trainer.train(config.network.iterations, progress=sub_progress(progress, 0.0, 0.5 / phases), cancel=cancel)
    per_frame = [trainer.stylize(i) for i in range(len(views))]
    result = StylizeResult(scene, [p.permute(1, 2, 0).cpu().numpy() for p in per_frame])
    targets = per_frame
    for r in range(phases):
        check_cancel(cancel)
        if r > 0:
            trainer.train(m.style_iterations, mimic=renders, lambda_mimic=m.lambda_mimic, cancel=cancel,
                          progress=sub_progress(progress, (r + 0.0) / phases, (r + 0.5) / phases))
            targets = [trainer.stylize(i) for i in range(len(views))]
        result.scene = _fit(result.scene, cameras, targets, confidences, fit_config, cancel, device)
        renders = render_views_chw(result.scene, cameras, device,  # as the fits see it (Mip-Splatting or not)
                                   settings=RenderSettings(antialiased=result.scene.antialiased))
        if evaluate:
            result.rounds.append(_evaluate(trainer, renders, m.lambda_mimic))
        report(progress, (r + 1) / phases, f"Stylization round {r + 1}/{phases}")
    result.final_2d = [t.permute(1, 2, 0).cpu().numpy() for t in targets]
    return result
