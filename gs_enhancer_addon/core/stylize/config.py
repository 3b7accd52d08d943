"""Hyperparameters of the text-stylization stage (torch-free, so the UI and the job can import them).

Defaults follow the official CLIPstyler code (Kwon & Ye, "CLIPstyler: Image Style Transfer with a
Single Text Condition", CVPR 2022) for the 2D losses and the style network, and StylizedNeRF
(Huang et al., "StylizedNeRF: Consistent 3D Scene Stylization as Stylized NeRF via 2D-3D Mutual
Learning", CVPR 2022) for the alternation between the 2D network and the 3D model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

ContentNetwork = Literal["vgg19", "clip"]  # features the content loss compares (see losses.content_loss)


@dataclass
class ClipSpec:
    """Which CLIP to load (open_clip naming)."""

    # open_clip architecture name ("ViT-B-32"), or a local folder holding open_clip_config.json
    # and weights, or "hf-hub:org/repo".
    model_name: str = "ViT-B-32"
    # open_clip pretrained tag (public LAION weights), or a path to a weights file; ignored when
    # model_name is a folder or an hf-hub id.
    pretrained: str = "laion2b_s34b_b79k"


TINY_VGG_WIDTH_DIVISOR = 16  # the tiny test / offline-demo VGG-19 has 1/16 of the channels


@dataclass
class VggSpec:
    """Where the VGG-19 weights for CLIPstyler's content loss come from."""

    # A local .pth/.safetensors file with torchvision's `vgg19().features` layout, a local folder
    # holding one, or a Hugging Face hub id (timm's port of torchvision's ImageNet VGG-19).
    source: str = "timm/vgg19.tv_in1k"
    # Channel divisor: 1 is the real VGG-19; tests build a narrower copy with seeded weights.
    width_divisor: int = 1


@dataclass
class StyleLossConfig:
    """CLIPstyler's loss terms and weights (official code defaults)."""

    source_text: str = "a Photo"  # t_src of the directional loss
    lambda_dir: float = 500.0  # directional CLIP loss over the whole image
    lambda_patch: float = 9000.0  # PatchCLIP loss
    lambda_content: float = 150.0  # content loss
    lambda_tv: float = 2e-3  # total-variation loss
    num_crops: int = 64  # patches per iteration
    crop_size: int = 128  # patch side in pixels (clamped to the image size)
    distortion: float = 0.5  # random-perspective distortion scale of each patch
    threshold: float = 0.7  # tau: patches whose loss is below it contribute no gradient
    content_network: ContentNetwork = "vgg19"  # VGG-19 conv4_2+conv5_2 (paper) or CLIP ViT tokens


@dataclass
class StyleNetConfig:
    """The lightweight U-Net f and its per-prompt training (CLIPstyler)."""

    base_channels: int = 16  # ngf of CLIPstyler's U-Net
    lr: float = 5e-4  # Adam learning rate
    iterations: int = 200  # training iterations of the 2D pre-training
    lr_halve_every: int = 100  # StepLR: halve the rate every this many iterations
    views_per_iteration: int = 1  # trajectory views per iteration (CLIPstyler: one image)
    seed: int = 0  # crops, perspective and view order


@dataclass
class MutualConfig:
    """StylizedNeRF's 2D-3D mutual learning schedule."""

    rounds: int = 3  # alternations (f update, then Gaussians update)
    style_iterations: int = 50  # f iterations per round (CLIP + content + tv + mimic)
    lambda_mimic: float = 1000.0  # weight of mean (f(I) - render)^2 (losses.mimic_loss) pulling f toward the 3D model
    refine_iterations: int = 100  # Gaussian fine-tuning iterations per round
    colors_only: bool = True  # fine-tune colours (SH) only; False also moves geometry


@dataclass
class StylizeConfig:
    """The whole stylization stage; an empty `text` means no stylization."""

    text: str = ""  # the style prompt, e.g. "a watercolor painting"
    clip: ClipSpec = field(default_factory=ClipSpec)
    vgg: VggSpec = field(default_factory=VggSpec)
    losses: StyleLossConfig = field(default_factory=StyleLossConfig)
    network: StyleNetConfig = field(default_factory=StyleNetConfig)
    mutual: MutualConfig = field(default_factory=MutualConfig)
    offline: Optional[bool] = None  # None: follow HF_HUB_OFFLINE; True: never download

    @property
    def enabled(self) -> bool:
        return bool(self.text.strip())
