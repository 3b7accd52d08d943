"""Benchmark the video enhancer at SVD img2vid-xt size with random weights (no download).

On CUDA: one window of 25 frames at 576x1024 and at 512x512, 25 steps, bf16 (fp16 where bf16 is
unsupported); seconds and peak GPU memory, with and without the low-memory options
(model offload + sequential CFG + feed-forward chunking + decode chunk 2).
On CPU: only the tiny test components can run (labelled "tiny, CPU"), plus a parameter count of
the full-size architecture built on the meta device.

    python bench/bench_enhancer.py [--steps 25] [--frames 25] [--sizes 576x1024,512x512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models_full import count_full_size_params, full_size_enhancer  # noqa: E402 - sets up torchvision first

from gs_enhancer_addon.core.enhance.components import dummy_components  # noqa: E402
from gs_enhancer_addon.core.enhance.config import EnhancerConfig  # noqa: E402
from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline  # noqa: E402

LOW_MEMORY = dict(offload="model", cfg_mode="sequential", forward_chunking=True, decode_chunk_size=2)


def run_case(pipe, frames: int, height: int, width: int, config: EnhancerConfig, device) -> tuple[float, float]:
    window = torch.rand(frames, 3, height, width)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe(window, config, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return seconds, peak


def bench_cuda(args) -> None:
    device = torch.device("cuda")
    pipe = full_size_enhancer(device)
    print(f"device: {torch.cuda.get_device_name()}, dtype {pipe.unet.dtype}, {args.frames} frames, {args.steps} steps")
    print(f"{'size':>10} {'options':>12} {'seconds':>9} {'peak GiB':>9}")
    for size in args.sizes.split(","):
        height, width = (int(v) for v in size.split("x"))
        for label, extra in (("default", {}), ("low-memory", LOW_MEMORY)):
            on_gpu = not extra
            for m in (pipe.unet, pipe.decoder, pipe.image_encoder):
                m.to(device if on_gpu else "cpu")
            torch.cuda.empty_cache()
            config = EnhancerConfig(num_inference_steps=args.steps, **extra)
            try:
                seconds, peak = run_case(pipe, args.frames, height, width, config, device)
                print(f"{size:>10} {label:>12} {seconds:9.1f} {peak:9.2f}", flush=True)
            except torch.cuda.OutOfMemoryError:
                print(f"{size:>10} {label:>12} {'OOM':>9} {'':>9}", flush=True)


def bench_cpu_tiny(args) -> None:
    torch.set_num_threads(1)
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    device = torch.device("cpu")
    print("tiny, CPU (no CUDA here): 4-frame window, 2 steps, float32, test-size random models")
    print(f"{'size':>10} {'options':>12} {'seconds':>9}")
    for size in (32, 64):
        for label, extra in (("batched", {}), ("sequential", {"cfg_mode": "sequential"})):
            run_case(pipe, 4, size, size, EnhancerConfig(num_inference_steps=2, **extra), device)  # warm-up
            seconds, _ = run_case(pipe, 4, size, size, EnhancerConfig(num_inference_steps=2, **extra), device)
            print(f"{size:>4}x{size:<5} {label:>12} {seconds:9.3f}")
    params = count_full_size_params()
    print("full-size architecture (meta device, not run): "
          + ", ".join(f"{k} {v:.0f}M params" for k, v in params.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--sizes", default="576x1024,512x512")
    args = parser.parse_args()
    bench_cuda(args) if torch.cuda.is_available() else bench_cpu_tiny(args)


if __name__ == "__main__":
    main()
