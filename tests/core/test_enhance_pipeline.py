"""EnhancerPipeline on tiny real SVD components (UNetSpatioTemporalConditionModel,
AutoencoderKLTemporalDecoder, CLIPVisionModelWithProjection, EulerDiscreteScheduler)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.enhance.components import dummy_components, ensure_tiny_enhancer, load_enhancer
from gs_enhancer_addon.core.enhance.components import EnhancerSources
from gs_enhancer_addon.core.enhance.conditioning import encode_frames_clip, guidance_scales, run_unet
from gs_enhancer_addon.core.enhance.config import EnhancerConfig
from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline
from gs_enhancer_addon.core.errors import Cancelled, InputError
from gs_enhancer_addon.core.models import ModelSource

from ._enhance_helpers import window

FAST = EnhancerConfig(num_inference_steps=2)


@pytest.fixture(scope="module")
def pipe() -> EnhancerPipeline:
    return EnhancerPipeline(**dummy_components(seed=0))


def test_output_shape_dtype_range_and_references_kept(pipe):
    frames = window(frames=4, height=30, width=36)  # not a multiple of the model's size: padded, cropped
    out = pipe(frames, FAST)
    assert out.shape == frames.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(out[0], frames[0]) and torch.equal(out[-1], frames[-1])
    assert not torch.allclose(out[1:-1], frames[1:-1], atol=1e-3)  # the middle really went through the models


def test_same_seed_same_result_and_numpy_input(pipe):
    frames = window(frames=3)
    first = pipe(frames, FAST)
    second = pipe(frames.numpy(), FAST)
    assert torch.equal(first, second)


def test_per_frame_clip_conditioning_changes_only_that_frame(pipe):
    frames = window(frames=4)
    changed = frames.clone()
    changed[2] = 1.0 - changed[2]
    with torch.no_grad():
        a = encode_frames_clip(pipe.image_encoder, pipe.feature_extractor, frames)
        b = encode_frames_clip(pipe.image_encoder, pipe.feature_extractor, changed)
    assert a.shape == (4, 1, pipe.unet.config.cross_attention_dim)
    differs = (a - b).abs().flatten(1).amax(dim=1) > 1e-6
    assert differs.tolist() == [False, False, True, False]
    assert not torch.allclose(a[1], a[2])  # the frames really get their own embeddings


def test_repeated_clip_ablation_gives_every_frame_the_first_references_embedding(pipe):
    frames = window(frames=4)
    generator = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    cpu = torch.device("cpu")
    own = pipe._encode_window(frames, FAST, cpu, False, generator())[0]  # [1, F, 1, D]
    repeated = pipe._encode_window(frames, replace(FAST, per_frame_clip=False), cpu, False, generator())[0]
    assert torch.equal(repeated, own[:, :1].expand_as(own)) and not torch.equal(repeated, own)
    assert not torch.equal(pipe(frames, replace(FAST, per_frame_clip=False)), pipe(frames, FAST))


def test_unet_blocks_receive_per_frame_embeddings(pipe):
    unet = pipe.unet
    frames, dim = 3, unet.config.cross_attention_dim
    emb = torch.randn(1, frames, 1, dim)
    sample = torch.randn(1, frames, 8, 8, 8)
    seen = []
    hook = unet.mid_block.attentions[0].register_forward_pre_hook(  # the spatial-temporal transformer
        lambda m, a, k: seen.append(k["encoder_hidden_states"].clone()), with_kwargs=True
    )
    try:
        with torch.no_grad():
            run_unet(unet, sample, torch.tensor(0.5), emb, torch.zeros(1, 3))
    finally:
        hook.remove()
    assert torch.equal(seen[-1], emb.reshape(frames, 1, dim))


def test_identical_per_frame_embeddings_equal_stock_svd_forward(pipe):
    unet = pipe.unet
    emb = torch.randn(1, 1, 1, unet.config.cross_attention_dim).expand(1, 3, 1, -1)
    sample = torch.randn(1, 3, 8, 8, 8)
    ids = torch.tensor([[6.0, 127.0, 0.02]])
    with torch.no_grad():
        ours = run_unet(unet, sample, torch.tensor(0.5), emb, ids)
        stock = unet(sample, torch.tensor(0.5), encoder_hidden_states=emb[:, 0], added_time_ids=ids).sample
    assert torch.equal(ours, stock)


def test_cancel_stops_within_one_step(pipe):
    reports = []
    with pytest.raises(Cancelled):
        pipe(window(frames=3), EnhancerConfig(num_inference_steps=6),
             progress=lambda f, m: reports.append(m), cancel=lambda: any(m.startswith("Step") for m in reports))
    steps = [m for m in reports if m.startswith("Step")]
    assert 1 <= len(steps) <= 2, "asked to stop after step 1 of 6: at most one more step ran"
    assert not any(m in ("Decoding", "Enhanced") for m in reports), "nothing was decoded"


def test_sequential_cfg_matches_batched(pipe):
    frames = window(frames=3)
    batched = pipe(frames, FAST)
    sequential = pipe(frames, EnhancerConfig(num_inference_steps=2, cfg_mode="sequential"))
    assert torch.allclose(batched, sequential, atol=1e-4)  # float32 batching noise only


def test_untrained_cfw_is_skipped_with_a_bit_identical_result(pipe, monkeypatch):
    """Zero CFW blocks add exactly 0: skipping them and the renders' second encode changes nothing."""
    frames = window(frames=4)
    encoded = []
    hook = pipe.decoder.vae.encoder.register_forward_pre_hook(lambda m, args: encoded.append(args[0].shape[0]))
    try:
        skipped = pipe(frames, FAST)
        skipped_frames, encoded[:] = sum(encoded), []
        monkeypatch.setattr(type(pipe.decoder), "fusion_is_identity", lambda self, w: False)  # force CFW
        computed = pipe(frames, FAST)
    finally:
        hook.remove()
    assert torch.equal(skipped, computed)
    assert (skipped_frames, sum(encoded)) == (4 + 2, 2 * 4 + 2)  # the noisy window + references (+ CFW input)


def test_guidance_ramps():
    assert torch.allclose(guidance_scales(5, 1.0, 3.0, "linear"), torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]))
    assert torch.allclose(guidance_scales(5, 1.0, 3.0, "triangle"), torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0]))


@pytest.mark.parametrize(
    "bad, words",
    [
        (torch.rand(2, 3, 32, 32), "at least one render"),
        ([torch.rand(3, 32, 32), torch.rand(3, 32, 40), torch.rand(3, 32, 32)], "same size"),
        (torch.rand(3, 4, 32, 32), "RGB"),
        (torch.rand(3, 1, 32, 32), "RGB"),
        (torch.full((3, 3, 32, 32), float("nan")), "NaN"),
        (torch.rand(3, 3, 32, 32) * 255, "[0, 1]"),
        ("frames.png", "tensor"),
    ],
)
def test_bad_input_raises_input_error(pipe, bad, words):
    with pytest.raises(InputError, match=None) as info:
        pipe(bad, FAST)
    assert words in str(info.value)


def test_config_rejects_bad_values():
    with pytest.raises(InputError):
        EnhancerConfig(num_inference_steps=0)
    with pytest.raises(InputError):
        EnhancerConfig(min_guidance_scale=3.0, max_guidance_scale=1.0)


def test_save_load_round_trip_offline(pipe, tmp_path):
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    folder = ensure_tiny_enhancer(tmp_path)
    assert ensure_tiny_enhancer(tmp_path) == folder  # saved once, reused
    assert {p.name for p in folder.iterdir()} >= {"unet", "decoder", "image_encoder", "scheduler", "model_index.json"}
    assert not list(folder.rglob("*.bin"))  # safetensors only
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(folder))), precision="float32")
    frames = window(frames=3)
    assert torch.allclose(loaded(frames, FAST), EnhancerPipeline(**dummy_components(seed=0))(frames, FAST), atol=1e-5)


@pytest.mark.cuda
def test_bfloat16_with_offload_on_cuda(tmp_path):
    folder = ensure_tiny_enhancer(tmp_path)
    pipe = load_enhancer(EnhancerSources(base=ModelSource(str(folder))), device="cuda", offload=True)
    assert pipe.unet.dtype in (torch.bfloat16, torch.float16)
    out = pipe(window(frames=4), EnhancerConfig(num_inference_steps=2, offload="model"), device="cuda")
    assert out.shape == (4, 3, 32, 32) and np.isfinite(out.numpy()).all()


def test_forward_chunking_is_set_per_call(pipe):
    from dataclasses import replace

    blocks = [m for m in pipe.unet.modules() if hasattr(m, "set_chunk_feed_forward")]
    assert blocks
    small = EnhancerConfig(num_inference_steps=1)
    pipe(window(4), replace(small, forward_chunking=True))
    assert all(b._chunk_size == 1 for b in blocks)
    pipe(window(4), small)
    assert all(b._chunk_size is None for b in blocks), "a later call without chunking must not inherit it"
