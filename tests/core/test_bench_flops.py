"""The full-size FLOP accounting (bench/flops.py) matches what the pipelines really run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_modules():
    sys.path[:0] = [str(ROOT / "bench")]
    try:
        import baselines
        import flops
        import sizes

        yield flops, baselines, sizes
    finally:
        sys.path.remove(str(ROOT / "bench"))
        for name in ("flops", "baselines", "sizes", "timing", "models_full"):
            sys.modules.pop(name, None)


def test_frames_through_each_component_match_the_real_pipelines(bench_modules):
    from PIL import Image

    from gs_enhancer_addon.core.enhance.config import EnhancerConfig

    flops, baselines, sizes = bench_modules
    size = sizes.SIZES["tiny"]
    frames, steps = size.views + 2, 2
    ours, ours_trained, stock = baselines.enhancer_pipelines(size, torch.device("cpu"))
    window = torch.rand(frames, 3, 32, 32)
    config = EnhancerConfig(num_inference_steps=steps)
    counted = {}
    for name, pipe in (("ours", ours), ("ours_trained", ours_trained)):
        decoder = pipe.decoder
        block = next(iter(decoder.cfw.values()))
        with flops.counting_frames(pipe.unet, pipe.image_encoder, decoder.vae, block) as counts:
            pipe(window, config)
        counted[name] = dict(counts)
    with flops.counting_frames(stock.unet, stock.image_encoder, stock.vae) as counts:
        first = Image.fromarray((window[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))
        stock(first, height=32, width=32, num_frames=frames, num_inference_steps=steps, output_type="pt")
    counted["stock"] = dict(counts)

    assert counted == {
        "ours": flops.frames_through("ours", frames, steps, cfw=False),
        "ours_trained": flops.frames_through("ours", frames, steps, cfw=True),
        "stock": flops.frames_through("stock", frames, steps),
    }
    assert counted["ours"]["clip"] == frames and counted["stock"]["clip"] == 1  # per-frame conditioning


def test_flop_counts_match_hand_counted_clip_and_run_at_full_size(bench_modules):
    flops, _, _ = bench_modules
    per_frame = flops.flops_per_frame(64, 64, frames=3, decode_chunk=2)
    # OpenCLIP ViT-H/14 at 224 px: 257 tokens, 32 layers of width 1280 (MLP 5120), patch embedding,
    # 1024-d projection; 2 FLOPs per multiply-add.
    tokens, width, layers = 257, 1280, 32
    per_layer = 2 * tokens * (4 * width * width + 2 * width * 4 * width) + 2 * 2 * tokens * tokens * width
    expected = layers * per_layer + 2 * 256 * (14 * 14 * 3) * width + 2 * width * 1024
    assert per_frame["clip"] == pytest.approx(expected, rel=0.01)
    assert all(per_frame[c] > 0 for c in flops.COMPONENTS)

    report = flops.window_flops(64, 64, frames=3, steps=2, decode_chunk=2)
    ratios = report["ratio_to_stock"]
    assert ratios["stock SVD"] == 1.0 and 1.0 < ratios["ours, zero CFW"] < ratios["ours, trained CFW"]
    # SVD img2vid-xt's UNet has 1.52 billion parameters, OpenCLIP ViT-H/14's vision tower 632 million
    weights = report["weights_gib_16bit"]
    assert weights["unet"] == pytest.approx(1.5246e9 * 2 / 2**30, rel=1e-3)
    assert weights["image_encoder"] == pytest.approx(632.1e6 * 2 / 2**30, rel=1e-3)
    totals = {name: sum(v[c] for c in flops.COMPONENTS) for name, v in report["tflop"].items()}
    assert totals == pytest.approx({name: v["total"] for name, v in report["tflop"].items()})
