"""What the gsplat fallback costs: gsplat's kernels vs the project's torch rasterizer on the same GPU.

    python bench/bench_fallback.py                      # CUDA: both, interleaved, medians and ratios
    python bench/bench_fallback.py --json out.json

Where gsplat's kernels cannot be built or loaded (no prebuilt wheel, no nvcc / C++ compiler),
render(backend="auto") runs the torch reference on the CUDA device (core/render/gsplat_backend.py).
This prints how much slower that is for one render and one render + backward (a fine-tuning step's
renderer cost), at the fine-tuning view size, so the user-facing note's "slower" has a number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gs_enhancer_addon.core.cameras import Camera  # noqa: E402
from gs_enhancer_addon.core.gaussians import GaussianScene  # noqa: E402
from gs_enhancer_addon.core.render import render  # noqa: E402


def scene_in_view(n: int, seed: int = 0) -> GaussianScene:
    """n Gaussians filling a camera's view at z in [2, 4], each a few pixels wide at 512 px; SH degree 3."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(2.0, 4.0, n)
    xy = rng.uniform(-0.6, 0.6, (n, 2)) * z[:, None]
    return GaussianScene(
        means=np.column_stack([xy, z]).astype(np.float32),
        quats=rng.normal(size=(n, 4)).astype(np.float32),
        log_scales=np.log(rng.uniform(0.002, 0.01, (n, 3))).astype(np.float32),
        opacity_logits=rng.normal(0.0, 1.0, n).astype(np.float32),
        sh=rng.normal(0, 0.3, (n, 16, 3)).astype(np.float32),
    )


def camera(size: int) -> Camera:
    f = size / (2 * 0.6)
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=np.float64)
    return Camera(K=K, world_to_cam=np.eye(4), width=size, height=size, name="bench")


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (first-call allocations)
    out = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gaussians", type=int, nargs="+", default=[100_000, 500_000])
    parser.add_argument("--size", type=int, default=512, help="square view size in pixels")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_fallback needs a CUDA GPU (on a CPU both paths are the torch rasterizer).", file=sys.stderr)
        return 2
    cams = [camera(args.size)]
    rows = []
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.size}x{args.size}, "
          f"median of {args.repeats} interleaved runs")
    for n in args.gaussians:
        g = scene_in_view(n).to_torch("cuda")
        for t in (g.means, g.quats, g.log_scales, g.opacity_logits, g.sh):
            t.requires_grad_(True)
        row = {"gaussians": n, "size": args.size}
        for mode in ("forward", "forward+backward"):
            def run(backend, mode=mode):
                out = render(g, cams, backend=backend)
                if mode != "forward":
                    out.rgb.sum().backward()
            times = {"gsplat": [], "fallback": []}
            for _ in range(args.repeats):  # interleaved: drift hits both alike
                times["gsplat"] += timed(lambda: run("cuda"), 1)
                times["fallback"] += timed(lambda: run("cpu"), 1)  # "cpu" = the torch reference, on the GPU
            med = {k: statistics.median(v) for k, v in times.items()}
            row[mode] = {"gsplat_ms": 1e3 * med["gsplat"], "fallback_ms": 1e3 * med["fallback"],
                         "ratio": med["fallback"] / med["gsplat"]}
            print(f"{n:>9,} Gaussians  {mode:17s} gsplat {1e3 * med['gsplat']:8.2f} ms   fallback "
                  f"{1e3 * med['fallback']:9.2f} ms   fallback/gsplat {row[mode]['ratio']:6.1f}x")
        rows.append(row)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
