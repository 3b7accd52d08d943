"""VGG-19 feature extractor for CLIPstyler's content loss (Simonyan & Zisserman, 2015).

CLIPstyler (Kwon & Ye, CVPR 2022) compares VGG-19 features of the stylized and the content image
at conv4_2 and conv5_2. Its official code stores the outputs of layers 21 and 31 of torchvision's
`vgg19().features`, whose ReLUs are in-place, so the stored tensors are in effect relu4_2 and
relu5_2: that is what `VGG19Features` returns. The module keeps torchvision's `features.<index>`
parameter names, so torchvision's ImageNet weights, or timm's port of them on the hub
(`timm/vgg19.tv_in1k`, whose state dict has the same `features.*` keys), load as they are; files
and hub repos are resolved by core/models.py (`model.safetensors` only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..models import ModelFiles, ModelSource, check_weights_file, load_weights_strictly, resolve_model
from .config import TINY_VGG_WIDTH_DIVISOR, VggSpec

_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512)  # up to conv5_2
CONTENT_LAYERS = {22: "relu4_2", 31: "relu5_2"}  # index of the ReLU module after conv4_2 / conv5_2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_FILES = ModelFiles("the VGG-19 content network (stylization)", ("model.safetensors",))


class VGG19Features(nn.Module):
    """torchvision's VGG-19 `features` up to relu5_2; `width_divisor` > 1 builds a narrow test copy."""

    def __init__(self, width_divisor: int = 1):
        super().__init__()
        layers, channels = [], 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                width = max(1, item // width_divisor)
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=False)]
                channels = width
        self.features = nn.Sequential(*layers)
        for m in self.features:  # torchvision's VGG init, so random test copies keep deep activations alive
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:  # [B, 3, H, W] in [0, 1]
        x, out = (images - self.mean) / self.std, []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in CONTENT_LAYERS:
                out.append(x)
        return out


def vgg_requirement(source: str) -> tuple[ModelSource, ModelFiles] | Path:
    """A local weights file (`source` itself), or (source, exact files) for a folder or hub repo:
    `model.safetensors` only (timm/vgg19.tv_in1k also ships a pickled pytorch_model.bin: never read)."""
    model = ModelSource(source)
    if model.local_path is not None and not model.local_path.is_dir():
        return model.local_path
    return model, VGG_FILES


def vgg_weights_file(source: str, offline: Optional[bool], cache_dir: Optional[str | Path] = None) -> Path:
    """The checked safetensors file: `source` itself, `model.safetensors` in folder `source`, or hub repo
    `source`'s (downloaded unless offline)."""
    need = vgg_requirement(source)
    if isinstance(need, Path):
        check_weights_file(need, "the VGG-19 weights file")
        return need
    return resolve_model(*need, cache_dir=cache_dir, offline=offline) / VGG_FILES.files[0]


def load_vgg19(spec: VggSpec, device: str | torch.device = "cpu", offline: Optional[bool] = None,
               cache_dir: Optional[str | Path] = None) -> VGG19Features:
    """Frozen VGG-19 features with ImageNet weights from a safetensors file, a folder or a hub repo."""
    from safetensors.torch import load_file

    net = VGG19Features(spec.width_divisor)
    path = vgg_weights_file(spec.source, offline, cache_dir)
    state = {k: v for k, v in load_file(str(path)).items()
             if k.startswith("features.") and k.split(".")[1].isdigit() and int(k.split(".")[1]) < len(net.features)}
    load_weights_strictly(net, state, path, "VGG-19")
    return net.to(device).eval().requires_grad_(False)


def tiny_vgg19(seed: int = 0, width_divisor: int = TINY_VGG_WIDTH_DIVISOR) -> VGG19Features:
    """A narrow VGG-19 with seeded random weights for tests and the offline benchmark."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = VGG19Features(width_divisor)
    return net.eval().requires_grad_(False)
