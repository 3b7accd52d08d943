"""Scale-out overhead and speed-up: one job of many tiny windows, 1 vs 2 Ray CPU workers, side by side
with the single-process loop, in one run (issue 19).

    PYTHONPATH=. python bench/bench_cluster.py [--windows 8] [--steps 3] [--size 64x48] [--repeats 3]

Measured:
  single process    the svd backend's window loop in this process (model loaded beforehand)
  Ray, 1 worker     the same windows through core/windows.py's dispatch loop on one actor
  Ray, 2 workers    ... on two actors (each with its own model)
  cold start        first run on fresh actors: actor start + import + model load, per worker
  serialization     one window's frames through Ray's object store and back (put + get), and the
                    pickled size of the processor sent with every window
Per-window overhead = (Ray 1 worker - single process) / windows. After one cold run per pool, the
single-process, 1-worker and 2-worker runs interleave in `--repeats` rounds (other work on a shared
machine hits all three alike); medians are reported. Every result is checked bit-identical to the
single-process run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gs_enhancer_addon.core.enhance.backend import SvdEnhancer  # noqa: E402
from gs_enhancer_addon.core.job_config import preset_config  # noqa: E402
from gs_enhancer_addon.core.model_cache import ModelCache  # noqa: E402
from gs_enhancer_addon.core.render.views import render_views_numpy  # noqa: E402
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene  # noqa: E402
from gs_enhancer_addon.core.stages import StageContext  # noqa: E402
from gs_enhancer_addon.core.trajectory import trajectory_from_references  # noqa: E402

CPU = torch.device("cpu")


def setup(windows: int, steps: int, width: int, height: int):
    config = preset_config("fast", views_per_segment=3)
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=steps)
    sample = SampleConfig(sphere_gaussians=400, ground_gaussians=200, reference_cameras=windows + 1, width=width,
                          height=height)
    scene = sample_scene(sample)
    trajectory = trajectory_from_references(sample_cameras(sample), config.trajectory)
    frames = render_views_numpy(scene, trajectory.cameras, CPU)  # [V, H, W, 3]
    return SvdEnhancer(config), scene, trajectory, frames


def timed(fn, repeats: int = 1):
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GS_ENHANCER_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "gse-bench-models"))
    torch.set_num_threads(1)  # each Ray CPU worker has one thread: compare like with like

    import ray

    from gs_enhancer_addon.core.cluster import RayCluster

    enhancer, scene, trajectory, frames = setup(args.windows, args.steps, width, height)
    n = len(trajectory.windows)
    enhancer.prepare()
    cache = ModelCache()
    load_s, _ = timed(lambda: enhancer.load(StageContext([CPU], cache)))
    reference = enhancer.enhance(scene, frames, trajectory, StageContext([CPU], cache))

    t0 = time.perf_counter()
    # 3 logical CPUs: the 1-worker and the 2-worker pools live side by side, so that their runs can
    # be interleaved with the single-process runs (other work on a shared machine hits all alike).
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    contexts, cold, identical = {}, {}, True
    for workers in (1, 2):
        contexts[workers] = StageContext([CPU], ModelCache(), cluster=RayCluster(workers=workers))
        cold[workers], out = timed(lambda: enhancer.enhance(scene, frames, trajectory, contexts[workers]))
        identical &= np.array_equal(out, reference)
    runs = {"single": [], 1: [], 2: []}
    for _ in range(args.repeats):  # interleaved rounds
        runs["single"].append(timed(lambda: enhancer.enhance(scene, frames, trajectory, StageContext([CPU], cache)))[0])
        for workers in (1, 2):
            seconds, out = timed(lambda: enhancer.enhance(scene, frames, trajectory, contexts[workers]))
            runs[workers].append(seconds)
            identical &= np.array_equal(out, reference)
    window = np.ascontiguousarray(frames[list(trajectory.windows[0].indices)])
    put_s, _ = timed(lambda: ray.get(ray.put(window)), 5)
    processor_bytes = len(pickle.dumps(enhancer))
    for ctx in contexts.values():
        ctx.cluster.shutdown(disconnect=False)
    ray.shutdown()

    median = {k: float(np.median(v)) for k, v in runs.items()}
    single_s = median["single"]
    print(f"\n{n} windows of {len(trajectory.windows[0].indices)} frames at {width}x{height}, {args.steps} steps, "
          f"tiny models, 1 thread per worker, {args.repeats} interleaved rounds (median, min-max); "
          f"torch {torch.__version__}, ray {ray.__version__}")
    print(f"{'':24s} {'seconds':>8s} {'min-max':>13s} {'per window':>11s} {'vs single':>10s}")
    for key, label in (("single", "single process"), (1, "Ray, 1 worker"), (2, "Ray, 2 workers")):
        spread = f"{min(runs[key]):.1f}-{max(runs[key]):.1f}"
        print(f"{label:24s} {median[key]:8.2f} {spread:>13s} {median[key] / n:11.3f} {single_s / median[key]:10.2f}")
    for workers in (1, 2):
        print(f"{f'Ray, {workers} worker(s), cold':24s} {cold[workers]:8.2f} {'':>13s} {cold[workers] / n:11.3f} "
              f"{single_s / cold[workers]:10.2f}")
    print(f"speed-up 2 vs 1 worker: {median[1] / median[2]:.2f}x")
    print(f"per-window overhead of Ray ((1 worker - single) / windows): {(median[1] - single_s) / n * 1000:.0f} ms")
    print(f"cold start (1 worker: first run - median): {cold[1] - median[1]:.1f} s; "
          f"model load in this process: {load_s:.2f} s; ray.init: {init_s:.1f} s")
    print(f"one window's frames ({window.nbytes / 1e6:.2f} MB) put + get: {put_s * 1000:.1f} ms; "
          f"processor pickled per window: {processor_bytes} bytes")
    print(f"bit-identical to the single process: {identical}")


if __name__ == "__main__":
    main()
