"""train-vae on a tiny real AutoencoderKLTemporalDecoder: the reconstruction improves, the saved folder
loads back (diffusers and load_enhancer) bit-identically, resume continues, cancel leaves no vae/."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
import torch

from gs_enhancer_addon.core.enhance.components import ensure_tiny_enhancer, load_enhancer
from gs_enhancer_addon.core.enhance.config import EnhancerSources
from gs_enhancer_addon.core.enhance.data import load_dataset, save_window
from gs_enhancer_addon.core.enhance.training import latest_checkpoint
from gs_enhancer_addon.core.enhance.vae_training import (
    VAE_FOLDER, AutoencoderKLTemporalDecoder, VaeTrainConfig, build_vae, reconstruct, train_vae,
)  # the real diffusers class, imported after the torchvision shim
from gs_enhancer_addon.core.errors import Cancelled, InputError
from gs_enhancer_addon.core.models import ModelSource

from ._enhance_helpers import window


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae-data")
    for i in range(2):
        target = window(frames=3, seed=10 + i)
        degraded = target.clone()
        degraded[1] = torch.nn.functional.avg_pool2d(target[1:2], 5, 1, 2)[0]
        save_window(root, f"w{i}", degraded, target)
    return root


def _l1(vae, pair) -> float:
    return float((reconstruct(vae, pair.targets) - (pair.targets * 2 - 1)).abs().mean())


def test_train_vae_from_scratch_lowers_reconstruction_and_loads_back(dataset, tmp_path):
    cfg = VaeTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "run"), steps=12, learning_rate=2e-3,
                         checkpoint_every=6, device="cpu")
    vae = build_vae(cfg)
    tiny = ensure_tiny_enhancer(tmp_path / "models")
    tiny_vae = load_enhancer(EnhancerSources(base=ModelSource(str(tiny)))).decoder.vae
    assert any(not torch.equal(p, tiny_vae.state_dict()[n]) for n, p in vae.state_dict().items())  # fresh weights
    pair = load_dataset(dataset)[0]
    before = _l1(vae, pair)
    result = train_vae(cfg, vae=vae)
    assert len(result.losses) == 12 and result.step == 12
    assert _l1(vae, pair) < 0.8 * before, (before, _l1(vae, pair))
    assert result.output == tmp_path / "run" / VAE_FOLDER
    assert latest_checkpoint(tmp_path / "run").name == "checkpoint-000012"
    assert not (tmp_path / "run" / "vae.partial").exists()
    # the latent scale was measured on the data (LDM): unit std of the scaled latents
    scale = json.loads((result.output / "config.json").read_text())["scaling_factor"]
    with torch.no_grad():
        latents = torch.cat([vae.encode(p.targets * 2 - 1).latent_dist.mode() for p in load_dataset(dataset)])
    assert scale != tiny_vae.config.scaling_factor and 0.5 < float((latents * scale).std()) < 2.0

    expected = reconstruct(vae, pair.inputs)
    loaded = AutoencoderKLTemporalDecoder.from_pretrained(result.output, use_safetensors=True)
    assert torch.equal(reconstruct(loaded, pair.inputs), expected)
    # as the vae/ of a base folder (a base without decoder/ builds the spatial-temporal decoder from vae/)
    base = tmp_path / "small-set"
    shutil.copytree(tiny, base)
    shutil.rmtree(base / "decoder")
    shutil.copytree(result.output, base / VAE_FOLDER)
    pipe = load_enhancer(EnhancerSources(base=ModelSource(str(base))), precision="float32")
    assert torch.equal(reconstruct(pipe.decoder.vae, pair.inputs), expected)
    assert pipe.decoder.scaling_factor == scale


def test_train_vae_resumes_from_checkpoint_and_cancel_leaves_no_output(dataset, tmp_path):
    cfg = VaeTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "run"), steps=2, checkpoint_every=1,
                         device="cpu", learning_rate=1e-3)
    first = build_vae(cfg)
    train_vae(cfg, vae=first)
    cfg.steps = 3
    resumed_vae = build_vae(cfg)
    resumed = train_vae(cfg, vae=resumed_vae)
    assert len(resumed.losses) == 1 and resumed.step == 3  # only step 3 ran
    # a rerun with nothing left to do ends on checkpoint 3's weights: resume loaded the trained VAE
    again = build_vae(cfg)
    assert any(not torch.equal(a, b) for a, b in zip(again.parameters(), resumed_vae.parameters()))
    assert train_vae(cfg, vae=again).losses == []
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), resumed_vae.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), resumed_vae.parameters()))

    cancelled = VaeTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "cancelled"), steps=4,
                               checkpoint_every=1, device="cpu")
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        train_vae(cancelled, cancel=lambda: next(calls))
    out = tmp_path / "cancelled"
    assert not (out / VAE_FOLDER).exists() and not (out / "vae.partial").exists()
    assert latest_checkpoint(out).name == "checkpoint-000002"  # what ran is kept for a resume


def test_train_vae_base_config_from_scratch_or_weights_and_errors(dataset, tmp_path):
    saved = tmp_path / "vae-only"
    AutoencoderKLTemporalDecoder(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                                 latent_channels=2, layers_per_block=1).save_pretrained(saved)
    base = tmp_path / "base"
    shutil.copytree(saved, base / VAE_FOLDER)
    original = AutoencoderKLTemporalDecoder.from_pretrained(saved)
    for location in (base, saved):  # a base folder with vae/, or the VAE folder itself
        fresh = build_vae(VaeTrainConfig(dataset=str(dataset), output_dir="x", base=str(location)))
        assert fresh.config.latent_channels == 2 and list(fresh.config.block_out_channels) == [32, 32]
        assert any(not torch.equal(a, b) for a, b in zip(fresh.parameters(), original.parameters()))
        kept = build_vae(VaeTrainConfig(dataset=str(dataset), output_dir="x", base=str(location),
                                        from_base_weights=True))
        assert all(torch.equal(a, b) for a, b in zip(kept.parameters(), original.parameters()))
    with pytest.raises(InputError, match="No VAE config"):
        build_vae(VaeTrainConfig(dataset=str(dataset), output_dir="x", base=str(tmp_path)))


def test_train_vae_command_parses(dataset, tmp_path):
    from gs_enhancer_addon.core.enhance.cli import _config, add_training_commands

    parser = argparse.ArgumentParser()
    add_training_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-vae", str(dataset), str(tmp_path), "--steps", "3", "--kl-weight", "1e-4"])
    cfg = _config(VaeTrainConfig, args)
    assert (cfg.steps, cfg.kl_weight, cfg.base, cfg.from_base_weights, cfg.resume) == (3, 1e-4, None, False, True)
    args = parser.parse_args(["train-vae", str(dataset), str(tmp_path), "--base", "b", "--from-base-weights"])
    assert _config(VaeTrainConfig, args).from_base_weights is True and callable(args.func)


def test_vae_loss_is_l1_plus_perceptual_plus_kl(dataset):
    from gs_enhancer_addon.core.enhance.losses import perceptual_loss
    from gs_enhancer_addon.core.enhance.vae_training import vae_loss

    cfg = VaeTrainConfig(dataset=str(dataset), output_dir="x", kl_weight=0.5, perceptual_weight=2.0)
    vae = build_vae(cfg).eval()
    frames = load_dataset(dataset)[0].targets

    def run(**weights):
        c = VaeTrainConfig(**{**cfg.__dict__, **weights})
        with torch.no_grad():
            return vae_loss(vae, vae.encoder, frames, 3, c, torch.Generator().manual_seed(5))

    total, recon = run()
    with torch.no_grad():
        kl = vae.encode(frames * 2 - 1).latent_dist.kl()  # [3]: summed over each frame's latent
        expected = ((recon - (frames * 2 - 1)).abs().mean() + 2.0 * perceptual_loss(vae.encoder, recon, frames * 2 - 1)
                    + 0.5 * kl.mean())
    assert kl.shape == (3,) and float(kl.mean()) > 0
    assert torch.allclose(total, expected, rtol=1e-5)
    assert float(run(kl_weight=0.0, perceptual_weight=0.0)[0]) < float(total)
