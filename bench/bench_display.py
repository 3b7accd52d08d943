"""Gaussian display cost on a big splat: set-up time and memory, Cycles and EEVEE render times.

One seeded N-splat (default 1,000,000, SH degree 3) GaussianScene, centred in a 640x480 camera:

- object: `scene_io.object_from_scene` (the 3DGS attributes, the display modifier, and the first
  viewport evaluation it triggers);
- viewport display alone: evaluation with the modifier off, then on (icosphere proxies, all
  splats), then at viewport density 0.1;
- render display + render: F12 with Cycles (CPU) and EEVEE (software GL here), --samples each,
  written to a PNG; the render depsgraph builds the camera-parallel squares.

Memory is the process's resident set (VmRSS) after each step, relative to before the object was
made, so Blender's own allocations count. The time of each step is printed with its ratio to
the object creation (side by side in one run: compare ratios on a shared machine).
Run:  .venv/bin/python bench/bench_display.py [--splats 1000000] [--samples 1] [--engines CYCLES EEVEE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from gs_enhancer_addon.blender import display, scene_io  # noqa: E402
from gs_enhancer_addon.blender.camera_io import camera_to_blender  # noqa: E402
from gs_enhancer_addon.core.gaussians import GaussianScene  # noqa: E402
from tests.blender.display_scenes import setup_render  # noqa: E402
from tests.builders import camera_looking_at  # noqa: E402


def big_scene(n: int, degree: int = 3) -> GaussianScene:
    """Splats in a 2-unit ball, sized so a million of them cover the ball about once."""
    rng = np.random.default_rng(0)
    means = rng.standard_normal((n, 3)).astype(np.float32)
    means *= (rng.random((n, 1)) ** (1 / 3) / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)
    sigma = 2.0 / n ** (1 / 3)
    return GaussianScene(
        means=means * 2.0,
        quats=rng.standard_normal((n, 4), dtype=np.float32),
        log_scales=np.log(rng.uniform(0.3, 1.0, (n, 3)) * sigma).astype(np.float32),
        opacity_logits=rng.normal(1.0, 1.0, n).astype(np.float32),
        sh=(rng.standard_normal((n, (degree + 1) ** 2, 3)) * 0.3).astype(np.float32),
    )


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def timed(label: str, fn, base: list) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    ratio = f"{seconds / base[0]:7.2f}x object" if base else ""
    print(f"{label:<44} {seconds:8.2f} s  RSS +{rss_mib() - base_rss:8.0f} MiB  {ratio}", flush=True)
    return seconds


def main() -> None:
    global base_rss
    parser = argparse.ArgumentParser()
    parser.add_argument("--splats", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--engines", nargs="*", default=["CYCLES", "EEVEE"])
    args = parser.parse_args()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = big_scene(args.splats)
    bscene = bpy.context.scene
    camera = camera_to_blender(camera_looking_at((0.0, -7.0, 0.0), width=640, height=480, focal=520.0),
                               bscene, set_render=True)
    bscene.camera = camera
    print(f"Blender {bpy.app.version_string}, {args.splats:,} splats (SH 3), 640x480, {args.samples} sample(s)")
    base_rss = rss_mib()
    base: list = []
    holder = {}
    base.append(timed("object + first viewport evaluation",
                      lambda: holder.setdefault("obj", scene_io.object_from_scene(bpy.context, scene, "Big")), []))
    obj = holder["obj"]
    modifier = display.display_modifier(obj)
    timed("evaluation with the display off", lambda: (setattr(modifier, "show_viewport", False),
                                                      bpy.context.evaluated_depsgraph_get().update()), base)
    timed("viewport display, density 1.0 (evaluate)", lambda: (setattr(modifier, "show_viewport", True),
                                                               bpy.context.evaluated_depsgraph_get().update()), base)
    timed("viewport display, density 0.1 (evaluate)",
          lambda: (display.set_viewport_density(obj, 0.1), bpy.context.evaluated_depsgraph_get().update()), base)
    display.set_viewport_density(obj, 1.0)
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines:
            engine_id = "CYCLES" if engine == "CYCLES" else display.eevee_engine_id()
            setup_render(bscene, engine_id, args.samples, Path(folder) / f"{engine}.png")
            timed(f"F12 {engine} ({args.samples} spp, display built inside)",
                  lambda: bpy.ops.render.render(write_still=True), base)


base_rss = 0.0

if __name__ == "__main__":
    main()
