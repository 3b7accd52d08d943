"""Per-prompt training of the style network f over a trajectory's views (CLIPstyler).

Kwon & Ye, "CLIPstyler", CVPR 2022: f is trained with
    L = l_dir * L_dir + l_patch * L_patch + l_c * L_content + l_tv * L_tv
(Adam 5e-4, 200 iterations, rate halved every 100). Here the content images are the views of the
camera trajectory; each iteration uses `views_per_iteration` of them. During 2D-3D mutual learning
(StylizedNeRF, Huang et al., CVPR 2022) a mimic term l_m * mimic_loss(f(I), R) pulls f toward the
current renders R of the stylized Gaussians.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from ..errors import InputError
from ..progress import CancelFn, ProgressFn, check_cancel, report
from .clip_model import ClipModel
from .config import StyleLossConfig, StyleNetConfig
from .losses import content_loss, global_clip_loss, mimic_loss, patch_clip_loss, tv_loss
from .network import StyleUNet
from .text import text_direction

ContentNet = Callable[[torch.Tensor], list]  # [B, 3, H, W] -> list of feature maps


class StyleTrainer:
    """Holds f, its optimizer and the frozen targets (text direction, content embeddings/features)."""

    def __init__(
        self,
        clip: ClipModel,
        content_net: ContentNet,
        text: str,
        views: Sequence[torch.Tensor],  # V x [3, H, W] in [0, 1] (sizes may differ)
        losses: Optional[StyleLossConfig] = None,  # None: CLIPstyler's defaults (a fresh object per trainer)
        network: Optional[StyleNetConfig] = None,
    ):
        losses = losses if losses is not None else StyleLossConfig()
        network = network if network is not None else StyleNetConfig()
        if not text.strip():
            raise InputError("The style text is empty: type a style, or skip stylization.")
        if not views:
            raise InputError("Stylization needs at least one view.")
        self.clip, self.content_net, self.cfg, self.net_cfg = clip, content_net, losses, network
        device = clip.device
        self.views = [v.to(device=device, dtype=torch.float32).unsqueeze(0) for v in views]
        self.direction = text_direction(clip, text, losses.source_text)
        with torch.no_grad():
            self.sources = [clip.encode_images(v) for v in self.views]
            self.contents = [[f.detach() for f in content_net(v)] for v in self.views]
        self.generator = torch.Generator().manual_seed(network.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(network.seed)
            self.net = StyleUNet(network.base_channels).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=network.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, network.lr_halve_every, gamma=0.5)

    def loss_terms(
        self,
        index: int,
        output: torch.Tensor,  # [1, 3, H, W] f's output for view `index`
        generator: torch.Generator,  # draws the PatchCLIP crops (the trainer's own, or a fixed one to score)
        mimic: Optional[torch.Tensor] = None,  # [1, 3, H, W] render of the 3D model, or None
        lambda_mimic: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """The weighted loss terms of f's output for view `index` and their sum under 'total'."""
        c = self.cfg
        terms = {
            "dir": c.lambda_dir * global_clip_loss(self.clip, output, self.sources[index], self.direction),
            "patch": c.lambda_patch * patch_clip_loss(
                self.clip, output, self.sources[index], self.direction, c.num_crops, c.crop_size, c.distortion,
                c.threshold, generator),
            "content": c.lambda_content * content_loss(self.content_net, output, self.contents[index]),
            "tv": c.lambda_tv * tv_loss(output),
        }
        if mimic is not None and lambda_mimic > 0:
            terms["mimic"] = lambda_mimic * mimic_loss(output, mimic)
        terms["total"] = sum(terms.values())
        return terms

    def step(self, mimic: Optional[Sequence[torch.Tensor]] = None, lambda_mimic: float = 0.0) -> dict[str, float]:
        """One Adam step on `views_per_iteration` random views; returns the mean loss terms."""
        count = min(self.net_cfg.views_per_iteration, len(self.views))
        picks = torch.randperm(len(self.views), generator=self.generator)[:count].tolist()
        self.optimizer.zero_grad(set_to_none=True)
        logged: dict[str, float] = {}
        for i in picks:
            target = None if mimic is None else mimic[i].to(self.clip.device).unsqueeze(0)
            terms = self.loss_terms(i, self.net(self.views[i]), self.generator, target, lambda_mimic)
            (terms["total"] / count).backward()
            for k, v in terms.items():
                logged[k] = logged.get(k, 0.0) + v.item() / count
        self.optimizer.step()
        self.scheduler.step()
        return logged

    def train(
        self,
        iterations: int,
        mimic: Optional[Sequence[torch.Tensor]] = None,  # V x [3, H, W] renders of the 3D model
        lambda_mimic: float = 0.0,
        progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None,
    ) -> list[dict[str, float]]:
        """`iterations` steps; checks `cancel` before every step (stops within one iteration)."""
        history = []
        for it in range(iterations):
            check_cancel(cancel)
            history.append(self.step(mimic, lambda_mimic))
            report(progress, (it + 1) / iterations, f"Style network {it + 1}/{iterations}")
        return history

    @torch.no_grad()
    def stylize(self, index: Optional[int] = None, image: Optional[torch.Tensor] = None) -> torch.Tensor:
        """f applied to view `index` (or to `image` [3, H, W]); returns [3, H, W]."""
        x = self.views[index] if image is None else image.to(self.clip.device).unsqueeze(0)
        return self.net(x)[0]
