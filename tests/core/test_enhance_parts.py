"""Spatial-temporal decoder (CFW), colour correction and the size rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.enhance.color import color_correct, color_correct_window
from gs_enhancer_addon.core.enhance.decoder import SpatialTemporalDecoder
from gs_enhancer_addon.core.enhance.sizing import (
    from_model_size, padded_size, size_multiple, to_model_size, working_size,
)

from ._enhance_helpers import window


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKLTemporalDecoder

    torch.manual_seed(0)
    return AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, latent_channels=4,
        layers_per_block=1,
    ).eval()


def test_untrained_cfw_reduces_exactly_to_the_base_temporal_decoder(vae):
    decoder = SpatialTemporalDecoder.from_vae(vae)
    pixels = window(frames=4) * 2 - 1
    with torch.no_grad():
        latents, features = decoder.encode(pixels)
        ours = decoder.decode(latents, features, num_frames=4, fusion_weight=1.0)
        base = decoder.vae.decode(latents, num_frames=4).sample  # the stock temporal decoder's forward
        original = vae.decode(latents, num_frames=4).sample  # same weights, other tensors in memory
    assert features and all(f.shape[0] == 4 for f in features.values())
    assert torch.equal(ours, base)
    assert torch.allclose(ours, original, atol=1e-5)


def test_trained_cfw_changes_the_output_and_round_trips(vae, tmp_path):
    decoder = SpatialTemporalDecoder.from_vae(vae)
    torch.nn.init.normal_(decoder.cfw["1"].fuse_out.weight, std=0.05)  # as if trained
    pixels = window(frames=3) * 2 - 1
    with torch.no_grad():
        latents, features = decoder.encode(pixels)
        fused = decoder.decode(latents, features, 3, fusion_weight=1.0)
        off = decoder.decode(latents, features, 3, fusion_weight=0.0)
        base = decoder.vae.decode(latents, num_frames=3).sample
    assert not torch.allclose(fused, base, atol=1e-4)
    assert torch.equal(off, base)  # w = 0 is the base decoder
    decoder.save_pretrained(tmp_path / "decoder")
    assert (tmp_path / "decoder" / "diffusion_pytorch_model.safetensors").exists()
    loaded = SpatialTemporalDecoder.from_pretrained(tmp_path / "decoder", use_safetensors=True)
    saved, back = decoder.state_dict(), loaded.state_dict()
    assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    with torch.no_grad():
        assert torch.allclose(loaded.decode(latents, features, 3, fusion_weight=1.0), fused, atol=1e-5)
    assert loaded.config.vae_config["latent_channels"] == 4


def test_fusion_is_identity_only_while_every_cfw_output_is_zero(vae):
    decoder = SpatialTemporalDecoder.from_vae(vae)
    assert decoder.fusion_is_identity(1.0) and decoder.fusion_is_identity(0.0)
    with torch.no_grad():
        decoder.cfw["1"].fuse_out.bias[0] = 1e-3  # one trained value is enough
    assert not decoder.fusion_is_identity(0.5)
    assert decoder.fusion_is_identity(0.0)


def test_cfw_levels_match_encoder_and_decoder_shapes():
    decoder = SpatialTemporalDecoder(
        vae_config=dict(block_out_channels=(32, 32, 64), down_block_types=("DownEncoderBlock2D",) * 3,
                        latent_channels=4, layers_per_block=1),
    )
    assert decoder.levels == [1, 2]
    with torch.no_grad():
        latents, features = decoder.encode(torch.zeros(2, 3, 32, 32))
        out = decoder.decode(latents, features, num_frames=2)
    assert out.shape == (2, 3, 32, 32)
    assert {k: v.shape[-1] for k, v in features.items()} == {1: 16, 2: 32}


def test_color_correction_matches_the_formula():
    rng = np.random.default_rng(0)
    generated = rng.random((3, 3, 16, 20)) * 0.5 + 0.2
    reference = rng.random((3, 16, 20)) * 0.3 + 0.4
    ours = color_correct(torch.tensor(generated), torch.tensor(reference)).numpy()
    mu_g = generated.mean(axis=(2, 3), keepdims=True)
    sigma_g = generated.std(axis=(2, 3), keepdims=True)
    mu_r = reference.mean(axis=(1, 2), keepdims=True)[None]
    sigma_r = reference.std(axis=(1, 2), keepdims=True)[None]
    expected = (generated - mu_g) / sigma_g * sigma_r + mu_r
    assert np.allclose(ours, expected, atol=1e-5)
    assert np.allclose(ours.mean(axis=(2, 3)), np.broadcast_to(mu_r[0, :, 0, 0], (3, 3)), atol=1e-6)
    assert np.allclose(ours.std(axis=(2, 3)), np.broadcast_to(sigma_r[0, :, 0, 0], (3, 3)), atol=1e-5)


def test_color_correct_window_clamps_to_unit_range():
    frames = torch.rand(2, 3, 8, 8)
    out = color_correct_window(frames, torch.rand(3, 8, 8) * 4 - 1)
    assert out.min() >= 0 and out.max() <= 1


def test_size_rule():
    assert size_multiple(8, 4) == 64  # SVD: VAE 8 x UNet 2^3
    assert padded_size(576, 1000, 64) == (576, 1024)
    assert working_size(576, 1024, 576 * 1024) == (576, 1024)
    h, w = working_size(1080, 1920, 576 * 1024)
    assert h * w <= 576 * 1024 and abs(w / h - 1920 / 1080) < 0.01
    frames = torch.rand(2, 3, 30, 50)
    padded = to_model_size(frames, 16, 10**6)
    assert padded.shape[-2:] == (32, 64)
    assert torch.equal(from_model_size(padded, 30, 50, 10**6), frames)  # padding only: exact round trip
    small = to_model_size(torch.rand(2, 3, 60, 80), 8, 40 * 40)
    assert small.shape[-2] * small.shape[-1] <= 48 * 56 and small.shape[-1] % 8 == 0
    assert from_model_size(small, 60, 80, 40 * 40).shape[-2:] == (60, 80)
