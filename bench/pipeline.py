"""The whole pipeline, stage by stage, with side-by-side baselines in the same run.

    python bench/pipeline.py --size tiny                      # CPU: tiny models, small scene (ratios only)
    python bench/pipeline.py --size full --json out.json      # CUDA: SVD-xt shapes, random weights

Prints, then writes as JSON (--json): device, versions; per stage: seconds, peak GPU memory,
throughput, Gaussians; and two baselines (bench/baselines.py) measured in the same process at the
same size, their runs interleaved (ours, baseline, ours, ...) and the median of --repeats taken:
the refine step vs a plain 3DGS step, and our enhancer window vs diffusers' stock SVD pipeline.
Also, on any machine, the arithmetic of one full-size window, ours vs stock (bench/flops.py).
Full-size models are built with random weights (bench/models_full.py: their cost is real without
downloads). On a CPU only --size tiny is practical; absolute times there are noise, read the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gs_enhancer_addon.core.enhance.backend import SvdEnhancer  # noqa: E402
from gs_enhancer_addon.core.job import EnhanceJob  # noqa: E402
from gs_enhancer_addon.core.job_config import preset_config  # noqa: E402
from gs_enhancer_addon.core.model_cache import ModelCache  # noqa: E402
from gs_enhancer_addon.core.model_set import ModelsConfig  # noqa: E402
from baselines import enhancer_baseline, refine_baseline  # noqa: E402
from flops import print_window_flops, window_flops  # noqa: E402
from sizes import SIZES, Size, scene_and_cameras  # noqa: E402
from timing import device_name, versions  # noqa: E402


# -- the job, stage by stage ---------------------------------------------------------------------

def run_job(size: Size, device: torch.device, style: str):
    scene, cameras = scene_and_cameras(size)
    config = preset_config("balanced", device=str(device), models=ModelsConfig(tiny=True))
    config.trajectory.views_per_segment = size.views
    config.enhance = replace(config.enhance, num_inference_steps=size.steps)
    config.refine = replace(config.refine, iterations=size.refine_iterations)
    config.stylize.text = style
    cache = ModelCache()
    if size.full_models:  # SVD-xt-sized models with random weights, in place of the tiny set
        from models_full import full_size_enhancer

        cache.put(SvdEnhancer(config).cache_key(device), full_size_enhancer(device))
    result = EnhanceJob(config, cache).run(scene, cameras)
    cache.release()
    views = len(result.trajectory.cameras)
    throughput = {"render": (views, "views/s"), "enhance": (views - len(result.trajectory.reference_indices),
                                                            "views/s"),
                  "refine": (size.refine_iterations, "it/s"), "package": (views, "views/s")}
    rows = []
    for stage, seconds in result.stage_seconds.items():
        count, unit = throughput.get(stage, (0, ""))
        rows.append({"stage": stage, "seconds": seconds,
                     "peak_gpu_mib": result.stage_peak_bytes.get(stage, 0) / 2**20 if result.stage_peak_bytes else None,
                     "throughput": f"{count / seconds:.2f} {unit}" if count and seconds > 0 else "",
                     # Gaussians the stage works on; refinement may densify and prune
                     "gaussians": len(result.scene) if stage in ("refine", "package") else len(scene)})
    return rows, {"views": views, "gaussians": len(scene)}, config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny" if not torch.cuda.is_available() else "full")
    parser.add_argument("--style", default="", help="also run stylization with this text")
    parser.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-flops", action="store_true", help="leave out the full-size FLOP count")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per baseline (median reported)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = SIZES[args.size]
    if args.size == "full" and device.type == "cpu":
        print("--size full needs a CUDA GPU; use --size tiny on a CPU.", file=sys.stderr)
        return 2

    report = {"date": datetime.date.today().isoformat(), "command": " ".join(["python bench/pipeline.py", *argv]),
              "device": device_name(device), "versions": versions(), "size": args.size, "config": vars(size)}
    rows, facts, config = run_job(size, device, args.style)
    report.update(stages=rows, **facts, total_seconds=sum(r["seconds"] for r in rows))
    if not args.skip_baselines:
        report["refine_vs_plain_step"] = refine_baseline(size, device, config.refine, args.repeats)
        report["enhancer_vs_stock_svd"] = enhancer_baseline(size, device, config.enhance, args.repeats)
    if not args.skip_flops:
        full = SIZES["full"]
        report["full_size_window_flops"] = window_flops(full.resolution[1], full.resolution[0], full.views + 2,
                                                        full.steps, config.enhance.decode_chunk_size)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
        print(f"\nwrote {args.json}")
    return 0


def print_report(report: dict) -> None:
    print(f"{report['date']}: {report['command']}")
    print(f"device: {report['device']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print(f"size: {report['size']} ({report['gaussians']} Gaussians, {report['views']} views, "
          f"{report['config']['resolution'][0]}x{report['config']['resolution'][1]})\n")
    print(f"{'stage':<12}{'seconds':>10}{'peak GPU MiB':>14}{'Gaussians':>11}  throughput")
    for row in report["stages"]:
        peak = f"{row['peak_gpu_mib']:.0f}" if row["peak_gpu_mib"] is not None else "n/a"
        print(f"{row['stage']:<12}{row['seconds']:>10.2f}{peak:>14}{row['gaussians']:>11}  {row['throughput']}")
    print(f"{'total':<12}{report['total_seconds']:>10.2f}")
    if "refine_vs_plain_step" in report:
        r = report["refine_vs_plain_step"]
        print(f"\nmedians of {r['repeats']} interleaved runs")
        print(f"refine step ({r['rasterizer']} rasterizer): ours {r['ours_s_per_it'] * 1e3:.1f} ms/it, plain 3DGS "
              f"step {r['plain_s_per_it'] * 1e3:.1f} ms/it, ratio {r['ratio']:.2f} (goal <= {r['goal']})")
        e = report["enhancer_vs_stock_svd"]
        print(f"enhancer window ({e['frames']} frames, {e['steps']} steps, {e['dtype']}): "
              f"ours {e['ours_s_per_window']:.3f} s (untrained CFW, skipped), "
              f"{e['ours_trained_cfw_s_per_window']:.3f} s (trained CFW); stock SVD {e['stock_s_per_window']:.3f} s; "
              f"ratios {e['ratio']:.2f} / {e['ratio_trained_cfw']:.2f} (goal < 1)")
    if "full_size_window_flops" in report:
        print()
        print_window_flops(report["full_size_window_flops"])


if __name__ == "__main__":
    sys.exit(main())
