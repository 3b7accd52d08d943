"""Import speed: our 3DGS .ply import into Blender vs Blender's native PLY importer, same run.

One seeded 1,000,000-splat SH-degree-3 .ply (62 float properties, 248 MB) is written to a
temporary folder, then, interleaved over --repeats rounds so machine load hits all alike:

- ours, Blender: `scene_io.import_splat_file` -> a POINTCLOUD object (5.0+; a mesh on
  4.2) with every 3DGS attribute and the Gaussian display modifier (display.py);
- native, Blender: `bpy.ops.wm.ply_import` of the same file (a mesh with the same attributes);
- ours, .ply -> GaussianScene: `core.io.ply.read_ply` (numpy arrays, NaN/Inf check included);
- plyfile, .ply -> arrays: `PlyData.read(path)` (memory-mapped, plyfile's default) then the
  fields stacked into the same arrays, as the INRIA reference loader does. (plyfile 1.1.3 with
  mmap=False is pathologically slow here, ~9 s per 100k splats, so it is not the baseline.)

The goal is ours/native <= 1.0. On a shared CPU machine compare the ratios, not the seconds.
Run:  .venv/bin/python bench/bench_import.py [--splats 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from gs_enhancer_addon.blender import scene_io  # noqa: E402
from gs_enhancer_addon.core.gaussians import GaussianScene  # noqa: E402
from gs_enhancer_addon.core.io.ply import read_ply, write_ply  # noqa: E402


def make_file(path: Path, n: int, degree: int) -> None:
    rng = np.random.default_rng(0)
    write_ply(GaussianScene(
        means=rng.standard_normal((n, 3), dtype=np.float32),
        quats=rng.standard_normal((n, 4), dtype=np.float32),
        log_scales=rng.uniform(-6, -1, (n, 3)).astype(np.float32),
        opacity_logits=rng.standard_normal(n, dtype=np.float32),
        sh=rng.standard_normal((n, (degree + 1) ** 2, 3), dtype=np.float32),
    ), path)


def clear_blender() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def ours_blender(path: Path) -> None:
    scene_io.import_splat_file(bpy.context, str(path))


def native_blender(path: Path) -> None:
    bpy.ops.wm.ply_import(filepath=str(path))


def ours_read(path: Path) -> None:
    read_ply(path)


def plyfile_read(path: Path) -> None:
    from plyfile import PlyData

    v = PlyData.read(str(path))["vertex"]
    names = [p.name for p in v.properties]
    rest = sorted((n for n in names if n.startswith("f_rest_")), key=lambda n: int(n[7:]))
    n = len(v.data)
    np.stack([v["x"], v["y"], v["z"]], axis=1)
    np.stack([v[f"rot_{i}"] for i in range(4)], axis=1)
    np.stack([v[f"scale_{i}"] for i in range(3)], axis=1)
    np.asarray(v["opacity"])
    dc = np.stack([v[f"f_dc_{i}"] for i in range(3)], axis=1)[:, None, :]
    extra = np.stack([v[r] for r in rest], axis=1).reshape(n, 3, -1).transpose(0, 2, 1)
    np.concatenate([dc, extra], axis=1)


CASES = {
    "ours: .ply -> Blender object": ours_blender,
    "native: bpy.ops.wm.ply_import": native_blender,
    "ours: .ply -> GaussianScene": ours_read,
    "plyfile: read + stack to arrays": plyfile_read,
}
try:
    import plyfile  # noqa: F401  (a test dependency; absent in the bpy 4.2 test env)
except ImportError:
    del CASES["plyfile: read + stack to arrays"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splats", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="gse-bench-") as folder:
        path = Path(folder) / "bench.ply"
        make_file(path, args.splats, args.degree)
        print(f"bpy {bpy.app.version_string}, {args.splats:,} splats, SH degree {args.degree}, "
              f"{path.stat().st_size / 1e6:.0f} MB, {args.repeats} rounds (min / median seconds)")
        for _ in range(args.repeats):
            for name, case in CASES.items():
                clear_blender()
                start = time.perf_counter()
                case(path)
                times[name].append(time.perf_counter() - start)
        clear_blender()
    best = {name: min(t) for name, t in times.items()}
    print(f"\n{'case':38s} {'min s':>8s} {'median s':>9s}")
    for name, t in times.items():
        print(f"{name:38s} {min(t):8.3f} {statistics.median(t):9.3f}")
    ours, native = best["ours: .ply -> Blender object"], best["native: bpy.ops.wm.ply_import"]
    print(f"\nBlender import ratio ours / native (min): {ours / native:.2f}  (goal <= 1.0)")
    if "plyfile: read + stack to arrays" in best:
        print(f"Read ratio ours / plyfile read+stack (min): "
              f"{best['ours: .ply -> GaussianScene'] / best['plyfile: read + stack to arrays']:.2f}")


if __name__ == "__main__":
    main()
