"""Spatial-temporal decoder (3DGS-Enhancer, Sec. 3.3): SVD's temporal VAE decoder extended with
Controllable Feature Warping (CFW) modules from StableSR (Wang et al., IJCV 2024).

The VAE encoder's features of the *rendered* frames (captured at each resolution, before
down-sampling) are fused into the decoder's features at the same resolution:
    dec' = dec + w * CFW(concat(enc, dec))
CFW here: a 3x3 conv to a hidden width, two residual conv blocks, and a ZERO-INITIALIZED output conv
(StableSR uses RRDB blocks; we keep its residual form and weight w, with a lighter body). Because
the output conv starts at zero, an untrained decoder reduces exactly to the base temporal decoder.

`SpatialTemporalDecoder` is a diffusers ModelMixin + ConfigMixin holding the real
`AutoencoderKLTemporalDecoder` (its config stored as `vae_config`) and the CFW blocks, so it saves
and loads as one diffusers model folder (config.json + safetensors).
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor, nn

from ..torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

from diffusers import AutoencoderKLTemporalDecoder  # noqa: E402
from diffusers.configuration_utils import ConfigMixin, register_to_config  # noqa: E402
from diffusers.models.modeling_utils import ModelMixin  # noqa: E402



class _ResidualConv(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class CFWBlock(nn.Module):
    """Controllable Feature Warping: a residual on decoder features computed from encoder features."""

    def __init__(self, enc_channels: int, dec_channels: int, hidden_channels: int):
        super().__init__()
        self.fuse_in = nn.Conv2d(enc_channels + dec_channels, hidden_channels, 3, padding=1)
        self.body = nn.Sequential(_ResidualConv(hidden_channels), _ResidualConv(hidden_channels))
        self.act = nn.LeakyReLU(0.2)
        self.fuse_out = nn.Conv2d(hidden_channels, dec_channels, 3, padding=1)
        nn.init.zeros_(self.fuse_out.weight)  # zero-initialized fusion: untrained CFW adds exactly 0
        nn.init.zeros_(self.fuse_out.bias)

    def forward(
        self,
        enc: Tensor,  # [N, C_enc, H, W] encoder features of the rendered frames
        dec: Tensor,  # [N, C_dec, H, W] decoder features
        weight: float,  # w: 0 = base decoder, 1 = full fusion
    ) -> Tensor:  # [N, C_dec, H, W]
        hidden = self.act(self.fuse_in(torch.cat([enc.to(dec.dtype), dec], dim=1)))
        return dec + weight * self.fuse_out(self.body(hidden))


def _public_config(config) -> dict:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


class SpatialTemporalDecoder(ModelMixin, ConfigMixin):
    """The temporal VAE (encoder + temporal decoder) plus CFW blocks at `cfw_levels`."""

    @register_to_config
    def __init__(
        self,
        vae_config: Optional[dict] = None,  # AutoencoderKLTemporalDecoder's config (public keys)
        cfw_levels: Optional[Sequence[int]] = None,  # decoder up-block indices whose input is fused;
        #   None = every level above the latent resolution (SVD: 1/4, 1/2, full; StableSR's choice)
        cfw_hidden_channels: Optional[int] = None,  # CFW width; None = the decoder's width at that level
    ):
        super().__init__()
        self.vae = AutoencoderKLTemporalDecoder(**(vae_config or {}))
        channels = list(self.vae.config.block_out_channels)
        levels = len(channels)
        dec_in = [channels[-1]] + list(reversed(channels))[:-1]  # input width of each up block
        blocks = {}
        for level in range(1, levels) if cfw_levels is None else cfw_levels:
            if not 0 <= level < levels:
                raise ValueError(f"cfw level {level} outside 0..{levels - 1}")
            enc_ch, dec_ch = channels[levels - 1 - level], dec_in[level]
            blocks[str(level)] = CFWBlock(enc_ch, dec_ch, cfw_hidden_channels or dec_ch)
        self.cfw = nn.ModuleDict(blocks)

    @classmethod
    def from_vae(cls, vae: AutoencoderKLTemporalDecoder, **kwargs) -> "SpatialTemporalDecoder":
        """A decoder with `vae`'s weights and fresh (zero-initialized) CFW blocks."""
        decoder = cls(vae_config=_public_config(vae.config), **kwargs)
        decoder.vae.load_state_dict(vae.state_dict())
        decoder.to(vae.device)
        return decoder if vae.dtype == decoder.dtype else decoder.to(dtype=vae.dtype)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def levels(self) -> list[int]:
        return sorted(int(k) for k in self.cfw.keys())

    def fusion_is_identity(self, fusion_weight: float) -> bool:
        """True when CFW cannot change the decoded frames: weight 0, or every block's output conv is
        still zero (an untrained decoder, e.g. one built from public SVD weights). Inference can
        then skip the CFW blocks and the encode of the renders for their features; the result is
        bit-identical. Training must not skip: the zero output convs still receive gradients."""
        if fusion_weight == 0:
            return True
        return not any(bool(b.fuse_out.weight.any() or b.fuse_out.bias.any()) for b in self.cfw.values())

    @contextmanager
    def _capture_encoder_features(self, store: dict) -> Iterator[None]:
        blocks = self.vae.encoder.down_blocks
        handles = []
        for level in self.levels:
            block = blocks[len(blocks) - 1 - level]

            def hook(module, args, output, level=level):
                store[level] = output

            handles.append(block.resnets[-1].register_forward_hook(hook))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def encode(
        self, pixels: Tensor  # [N, 3, H, W] in [-1, 1]
    ) -> tuple[Tensor, dict[int, Tensor]]:  # latent mode [N, C, h, w] (unscaled), {level: features}
        """VAE-encode frames, also returning the encoder features the CFW blocks consume."""
        features: dict[int, Tensor] = {}
        with self._capture_encoder_features(features):
            latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        return latents.contiguous(), features  # mode() is a strided view; see conditioning.run_unet

    def decode(
        self,
        latents: Tensor,  # [N, C, h, w] unscaled latents (N = batch * num_frames)
        features: Optional[dict[int, Tensor]],  # encoder features from `encode`; None = base decoder
        num_frames: int,  # frames per video in the batch (the temporal layers mix them)
        fusion_weight: float = 1.0,  # CFW weight w
    ) -> Tensor:  # [N, 3, H, W] in about [-1, 1]
        """The temporal decoder's forward with CFW fusion before the up blocks at `cfw_levels`."""
        decoder = self.vae.decoder
        batch = latents.shape[0] // num_frames
        indicator = torch.zeros(batch, num_frames, dtype=latents.dtype, device=latents.device)
        sample = decoder.conv_in(latents.to(self.vae.dtype))
        sample = decoder.mid_block(sample, image_only_indicator=indicator)
        upscale_dtype = next(itertools.chain(decoder.up_blocks.parameters(), decoder.up_blocks.buffers())).dtype
        sample = sample.to(upscale_dtype)
        for level, up_block in enumerate(decoder.up_blocks):
            if features is not None and str(level) in self.cfw:
                sample = self.cfw[str(level)](features[level], sample, fusion_weight)
            sample = up_block(sample, image_only_indicator=indicator)
        sample = decoder.conv_out(decoder.conv_act(decoder.conv_norm_out(sample)))
        frames, channels, height, width = sample.shape
        sample = sample.reshape(batch, num_frames, channels, height, width).permute(0, 2, 1, 3, 4)
        sample = decoder.time_conv_out(sample)
        return sample.permute(0, 2, 1, 3, 4).reshape(frames, channels, height, width)

    def forward(self, latents: Tensor, features, num_frames: int, fusion_weight: float = 1.0) -> Tensor:
        return self.decode(latents, features, num_frames, fusion_weight)
