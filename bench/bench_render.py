"""Benchmark the renderer: CPU reference forward / forward+backward vs Gaussian count and resolution,
and on a CUDA GPU gsplat at 100k / 1M Gaussians at 1080p (images per second).

    python bench/bench_render.py                # CPU table (+ CUDA table when a GPU is present)
    python bench/bench_render.py --quick        # smaller CPU grid
    python bench/bench_render.py --threads 2    # torch intra-op threads for the CPU table

Scenes are random Gaussians filling the view of one camera (sizes so that each covers a few
pixels at the given resolution, as in a trained capture); SH degree 3.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
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


def scene_in_view(n: int, seed: int = 0, pixel_size: float = 1.0 / 128) -> GaussianScene:
    """n Gaussians in a 2x2x1 slab 3 units in front of the origin camera (which sees ~2x2)."""
    rng = np.random.default_rng(seed)
    means = rng.uniform([-1, -1, 2.5], [1, 1, 3.5], (n, 3))
    # mean footprint ~ 2-3 px at the nominal resolution, shrinking as n grows (like a real capture)
    sigma = pixel_size * 3 * math.sqrt(10000 / max(n, 1)) * rng.lognormal(0, 0.5, (n, 3))
    return GaussianScene(
        means.astype(np.float32),
        rng.normal(size=(n, 4)).astype(np.float32),
        np.log(sigma).astype(np.float32),
        rng.normal(0, 1.5, n).astype(np.float32),
        rng.normal(0, 0.3, (n, 16, 3)).astype(np.float32),
    )


def scene_covering_view(n: int, seed: int = 0) -> GaussianScene:
    """Worst case for memory: n large, faint Gaussians that each cover the whole image."""
    rng = np.random.default_rng(seed)
    return GaussianScene(
        rng.uniform([-0.3, -0.3, 2.5], [0.3, 0.3, 3.5], (n, 3)).astype(np.float32),
        rng.normal(size=(n, 4)).astype(np.float32),
        np.log(rng.uniform(0.3, 0.6, (n, 3))).astype(np.float32),
        np.full(n, -4.0, np.float32),
        rng.normal(0, 0.3, (n, 16, 3)).astype(np.float32),
    )


def camera(width: int, height: int) -> Camera:
    f = 1.5 * width / 2  # 2 units at distance 3 fill the width
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    return Camera(K, np.eye(4), width, height)


def time_render(scene, cam, device, backend, backward: bool, repeats: int) -> float:
    g = scene.to_torch(device, requires_grad=backward)
    def once():
        out = render(g, [cam], backend=backend)
        if backward:
            (out.rgb.sum() + out.depth.mean()).backward()
        if device == "cuda":
            torch.cuda.synchronize()
    once()  # warm-up (and gsplat's JIT on the first CUDA call)
    best = float("inf")  # the minimum: the least disturbed run on a shared machine
    for _ in range(repeats):
        t = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t)
    return best


def cpu_table(quick: bool) -> None:
    counts = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    sizes = [64, 128] if quick else [64, 128, 256]
    print(f"\nCPU reference (torch {torch.__version__}, {torch.get_num_threads()} thread(s)), best-of-n seconds per image")
    print(f"{'gaussians':>10} {'res':>9} {'fwd':>8} {'fwd+bwd':>8} {'bwd/fwd':>8}")
    for n in counts:
        scene = scene_in_view(n)
        for s in sizes:
            cam = camera(s, s)
            reps = 2 if n * s >= 100_000 * 128 else 4
            fwd = time_render(scene, cam, "cpu", "cpu", False, reps)
            both = time_render(scene, cam, "cpu", "cpu", True, reps)
            print(f"{n:>10,} {f'{s}x{s}':>9} {fwd:8.3f} {both:8.3f} {(both - fwd) / fwd:8.2f}", flush=True)


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM; ru_maxrss would include a forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def memory_check() -> None:
    """Peak resident memory of a fresh process rendering 10k Gaussians at 128x128, fwd+bwd,
    each Gaussian covering the whole image (164M pixel-Gaussian pairs, no early stop)."""
    code = (
        "import resource, torch, sys; sys.path.insert(0, %r); torch.set_num_threads(1);"
        "from bench.bench_render import *;"
        "base = peak_rss_mb();"
        "time_render(scene_covering_view(10_000), camera(128, 128), 'cpu', 'cpu', True, 1);"
        "print(base, peak_rss_mb())"
    ) % str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    base, peak = map(int, out.stdout.split()[-2:])
    print(f"\nmemory: 10k Gaussians each covering 128x128, fwd+bwd: peak RSS {peak} MB (after imports {base} MB,"
          f" rendering added {peak - base} MB)")


def cuda_table() -> None:
    print(f"\nCUDA: gsplat on {torch.cuda.get_device_name()}, 1920x1080, images per second")
    print(f"{'gaussians':>10} {'fwd img/s':>10} {'fwd+bwd img/s':>14}")
    cam = camera(1920, 1080)
    for n in (100_000, 1_000_000):
        scene = scene_in_view(n, pixel_size=1.0 / 1920)
        fwd = time_render(scene, cam, "cuda", "cuda", False, 20)
        both = time_render(scene, cam, "cuda", "cuda", True, 20)
        print(f"{n:>10,} {1 / fwd:10.1f} {1 / both:14.1f}", flush=True)
    print("\nCUDA: torch reference on the same GPU (for scale), 100k Gaussians")
    for s in (256, 512):
        cam = camera(s, s * 9 // 16)
        scene = scene_in_view(100_000, pixel_size=1.0 / s)
        both = time_render(scene, cam, "cuda", "cpu", True, 3)
        print(f"  {cam.width}x{cam.height}: fwd+bwd {both:.3f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller CPU grid")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_cpu:
        cpu_table(args.quick)
        memory_check()
    if torch.cuda.is_available():
        cuda_table()
    else:
        print("\nno CUDA GPU here: the gsplat table needs one")
    print(f"(peak RSS of this process: {peak_rss_mb()} MB)")


if __name__ == "__main__":
    main()
