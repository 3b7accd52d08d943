"""Training on tiny real models: the loss goes down on an overfit window, checkpoints resume and load back."""

from __future__ import annotations

import argparse

import pytest
import torch

from gs_enhancer_addon.core.enhance.components import (
    EnhancerSources, dummy_components, ensure_tiny_enhancer, load_enhancer,
)
from gs_enhancer_addon.core.enhance.data import load_dataset, save_window
from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline
from gs_enhancer_addon.core.enhance.training import (
    DecoderTrainConfig, EnhancerTrainConfig, _decode_for_training, enhancer_loss, latest_checkpoint,
    temporal_parameters, train_decoder, train_enhancer,
)
from gs_enhancer_addon.core.enhance.pose import POSE_FOLDER
from gs_enhancer_addon.core.errors import Cancelled, InputError
from gs_enhancer_addon.core.models import ModelSource

from ._enhance_helpers import window


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    target = window(frames=3, seed=1)
    degraded = target.clone()
    degraded[1] = torch.nn.functional.avg_pool2d(target[1:2], 5, 1, 2)[0]  # a blurred middle render
    save_window(root, "w0", degraded, target)
    return root


def test_dataset_format_round_trip_and_errors(dataset, tmp_path):
    pairs = load_dataset(dataset)
    assert len(pairs) == 1 and pairs[0].inputs.shape == (3, 3, 32, 32)
    assert (pairs[0].inputs - pairs[0].targets).abs()[1].max() > 0.01
    (tmp_path / "broken" / "input").mkdir(parents=True)
    with pytest.raises(InputError, match="target"):
        load_dataset(tmp_path)


def _fixed_loss(pipe, pair, cfg) -> float:
    with torch.no_grad():
        return float(enhancer_loss(pipe, pair.inputs, pair.targets, cfg, torch.Generator().manual_seed(3)))


def test_train_enhancer_lowers_loss_trains_only_temporal_layers_and_loads_back(dataset, tmp_path):
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    frozen_before = {n: p.clone() for n, p in pipe.unet.named_parameters() if "temporal" not in n and "time_" not in n}
    cfg = EnhancerTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "out"), steps=8, learning_rate=3e-3,
                              checkpoint_every=4, conditioning_dropout=0.0, device="cpu", p_mean=0.0, p_std=0.5)
    pair = load_dataset(dataset)[0]
    before = _fixed_loss(pipe, pair, cfg)
    result = train_enhancer(cfg, pipe=pipe)
    after = _fixed_loss(pipe, pair, cfg)
    assert after < before and len(result.losses) == 8
    assert temporal_parameters(pipe.unet)
    assert all(torch.equal(p, frozen_before[n]) for n, p in pipe.unet.named_parameters() if n in frozen_before)
    assert latest_checkpoint(tmp_path / "out").name == "checkpoint-000008"
    base = ensure_tiny_enhancer(tmp_path / "models")
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(base)), unet=ModelSource(str(result.output))))
    trained = dict(pipe.unet.named_parameters())
    assert all(torch.equal(p, trained[n]) for n, p in loaded.unet.named_parameters())
    assert loaded(window(frames=3), __import__("gs_enhancer_addon.core.enhance.config", fromlist=["x"])
                  .EnhancerConfig(num_inference_steps=1)).shape == (3, 3, 32, 32)


def test_train_enhancer_resumes_from_checkpoint_and_cancels(dataset, tmp_path):
    cfg = EnhancerTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "out"), steps=2,
                              checkpoint_every=1, device="cpu", learning_rate=1e-3)
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    train_enhancer(cfg, pipe=pipe)
    cfg.steps = 3
    resumed = train_enhancer(cfg, pipe=EnhancerPipeline(**dummy_components(seed=0)))
    assert len(resumed.losses) == 1 and resumed.step == 3  # only step 3 ran
    cfg.steps, cfg.resume = 5, False
    with pytest.raises(Cancelled):
        train_enhancer(cfg, pipe=pipe, cancel=lambda: True)


def test_train_decoder_lowers_loss_and_loads_back(dataset, tmp_path):
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    cfg = DecoderTrainConfig(dataset=str(dataset), output_dir=str(tmp_path / "dec"), steps=6, learning_rate=2e-3,
                             checkpoint_every=3, device="cpu", disc_start=2, latent_noise=0.0)
    pair = load_dataset(dataset)[0]

    def l1() -> float:
        with torch.no_grad():
            out, target = _decode_for_training(pipe.decoder, pair.inputs, pair.targets, cfg, torch.Generator())
        return float((out - target).abs().mean())

    before = l1()
    result = train_decoder(cfg, pipe=pipe)
    assert l1() < before
    assert any(p.abs().sum() > 0 for p in pipe.decoder.cfw.parameters())  # CFW left its zero start
    base = ensure_tiny_enhancer(tmp_path / "models")
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(base)), decoder=ModelSource(str(result.output))))
    trained = pipe.decoder.state_dict()
    assert all(torch.equal(t, trained[k]) for k, t in loaded.decoder.state_dict().items())


def test_training_commands_register_and_parse(dataset, tmp_path):
    from gs_enhancer_addon.core.enhance.cli import _config, add_training_commands

    parser = argparse.ArgumentParser()
    add_training_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-decoder", str(dataset), str(tmp_path), "--steps", "3", "--no-resume"])
    cfg = _config(DecoderTrainConfig, args)
    assert cfg.steps == 3 and cfg.resume is False and cfg.dataset == str(dataset) and callable(args.func)
    args = parser.parse_args(["train-enhancer", str(dataset), str(tmp_path)])
    assert _config(EnhancerTrainConfig, args).resume is True and _config(EnhancerTrainConfig, args).layers == "temporal"
    args = parser.parse_args(["train-enhancer", str(dataset), str(tmp_path), "--layers", "all"])
    assert _config(EnhancerTrainConfig, args).layers == "all"


@pytest.fixture(scope="module")
def posed_dataset(tmp_path_factory):
    from gs_enhancer_addon.core.cameras import Camera, look_at

    root = tmp_path_factory.mktemp("posed")
    target = window(frames=3, seed=2)
    degraded = torch.nn.functional.avg_pool2d(target, 5, 1, 2)
    degraded[0], degraded[-1] = target[0], target[-1]
    K = torch.tensor([[16.0, 0, 16], [0, 16.0, 16], [0, 0, 1]]).double().numpy()
    cams = [Camera(K, look_at((3.0, 0.4 * i, 1.0), (0, 0, 0)), 32, 32, f"c{i}") for i in range(3)]
    save_window(root, "w0", degraded, target, cameras=cams)
    return root


def test_train_enhancer_trains_the_pose_embedding_from_window_cameras(posed_dataset, tmp_path):
    pair = load_dataset(posed_dataset)[0]
    assert pair.cameras is not None and len(pair.cameras) == 3
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    conv_in = pipe.unet.conv_in.weight.clone()
    cfg = EnhancerTrainConfig(dataset=str(posed_dataset), output_dir=str(tmp_path / "out"), steps=3,
                              learning_rate=1e-3, checkpoint_every=3, conditioning_dropout=0.0, device="cpu")
    result = train_enhancer(cfg, pipe=pipe)
    assert any(p.abs().sum() > 0 for p in pipe.pose_embedding.pose_embedding.linear_2.parameters())
    assert torch.equal(pipe.unet.conv_in.weight, conv_in)  # "temporal": spatial layers stay frozen
    assert (result.output / POSE_FOLDER / "config.json").is_file()
    base = ensure_tiny_enhancer(tmp_path / "models")
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(base)), unet=ModelSource(str(result.output))),
                           precision="float32")
    for a, b in zip(loaded.pose_embedding.parameters(), pipe.pose_embedding.parameters()):
        assert torch.equal(a, b)


def test_train_enhancer_all_layers_trains_spatial_layers_too(posed_dataset, tmp_path):
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    conv_in = pipe.unet.conv_in.weight.clone()
    cfg = EnhancerTrainConfig(dataset=str(posed_dataset), output_dir=str(tmp_path / "all"), steps=2,
                              learning_rate=1e-3, checkpoint_every=2, device="cpu", layers="all")
    train_enhancer(cfg, pipe=pipe)
    assert not torch.equal(pipe.unet.conv_in.weight, conv_in)
    with pytest.raises(InputError, match="layers"):
        train_enhancer(EnhancerTrainConfig(dataset=str(posed_dataset), output_dir=str(tmp_path / "bad"), steps=1,
                                           device="cpu", layers="spatial"), pipe=pipe)


def test_long_windows_are_subsampled_keeping_both_references_and_the_order():
    from gs_enhancer_addon.core.enhance.data import WindowPair
    from gs_enhancer_addon.core.enhance.training import subsample_window

    frames = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 4, 4)
    pair = WindowPair("w", frames, frames + 100, cameras=list(range(10)))
    assert subsample_window(pair, None, torch.Generator()) is pair
    assert subsample_window(pair, 10, torch.Generator()) is pair
    gen = torch.Generator().manual_seed(0)
    picks = set()
    for _ in range(20):
        short = subsample_window(pair, 5, gen)
        kept = short.inputs[:, 0, 0, 0].long().tolist()
        assert len(kept) == 5 and kept[0] == 0 and kept[-1] == 9 and kept == sorted(set(kept))
        assert short.targets[:, 0, 0, 0].long().tolist() == [k + 100 for k in kept] and short.cameras == kept
        picks.add(tuple(kept))
    assert len(picks) > 5  # a new subset each step
    with pytest.raises(InputError, match="at least 3"):
        EnhancerTrainConfig(dataset="d", output_dir="o", max_frames=2)
