"""Losses for training the spatial-temporal decoder: L1 + perceptual + adversarial (3DGS-Enhancer
trains its decoder with "L1, LPIPS and adversarial" losses, following StableSR).

Perceptual loss, honestly: the `lpips` package downloads its AlexNet/VGG weights from the web at
first use, which the add-on must not do. We use the LPIPS recipe (`unit_feature_distances`:
unit-normalize each layer's features over channels, squared difference, spatial mean, sum over
layers; uniform layer weights instead of LPIPS's learned linear heads) on a feature network we
already have: the frozen SVD VAE encoder. It is not numerically LPIPS and its scores are not
comparable to published LPIPS values.

Adversarial: a PatchGAN discriminator (Isola et al., 2017) with hinge losses, as in VQGAN/StableSR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def encoder_features(
    encoder: nn.Module,  # diffusers vae.Encoder (frozen)
    pixels: Tensor,  # [N, 3, H, W] in [-1, 1]
) -> list[Tensor]:
    """The encoder's feature map after every down block (its multi-scale features)."""
    sample = encoder.conv_in(pixels.to(encoder.conv_in.weight.dtype))
    features = []
    for block in encoder.down_blocks:
        sample = block(sample)
        features.append(sample)
    return features


def unit_feature_distances(
    features_a: list[Tensor],  # per layer [N, C, h, w]
    features_b: list[Tensor],  # the same layers of the other image
) -> list[Tensor]:  # per layer [N, h, w]
    """The LPIPS recipe (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
    Metric", CVPR 2018) with unit layer weights: each layer's features unit-normalized over channels
    (eps 1e-10 as in LPIPS), squared differences summed over channels. The caller averages each map over
    space (or a mask) and sums over layers."""

    def unit(x: Tensor) -> Tensor:
        return x / (x.norm(dim=1, keepdim=True) + 1e-10)

    return [((unit(a) - unit(b)) ** 2).sum(dim=1) for a, b in zip(features_a, features_b)]


def perceptual_loss(encoder: nn.Module, output: Tensor, target: Tensor) -> Tensor:  # [N,3,H,W] each, [-1,1]
    """LPIPS-style distance on frozen VAE-encoder features (see module doc)."""
    with torch.no_grad():
        target_feats = encoder_features(encoder, target)
    distances = unit_feature_distances(encoder_features(encoder, output), target_feats)
    return sum((d.mean() for d in distances), output.new_zeros(()))


class PatchDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake logits, one per overlapping patch."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, layers):
            nxt = channels * min(2 ** i, 8)
            blocks += [nn.Conv2d(width, nxt, 4, 2, 1), nn.GroupNorm(min(32, nxt // 4), nxt), nn.LeakyReLU(0.2)]
            width = nxt
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, pixels: Tensor) -> Tensor:  # [N, 3, H, W] in [-1, 1] -> [N, 1, h, w]
        return self.net(pixels)


def discriminator_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def generator_hinge_loss(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()
