"""The whole pipeline, stage by stage, with side-by-side baselines in the same run.

    python bench/pipeline.py --size tiny                      # CPU: tiny models, small scene (ratios only)
    python bench/pipeline.py --size full --json out.json      # CUDA: SVD-xt shapes, random weights

Prints, then writes as JSON (--json): device, versions; per stage: seconds, peak GPU memory,
throughput, Gaussians; and two baselines measured in the same process at the same size, their
runs interleaved (ours, baseline, ours, ...) and the median of --repeats taken:
  refine step   ours (confidence-aware: pixel-confidence render + weighted loss) vs a plain
                3DGS training step (render, L1 + 0.2 D-SSIM, Adam) with the same rasterizer
                (gsplat on CUDA, our reference on CPU); goal ours/plain <= 1.1;
  enhancer      our window (per-frame conditioning, CFW decoder, colour correction) vs diffusers'
                stock StableVideoDiffusionPipeline with the same UNet/VAE/CLIP, size and steps.
Also, on any machine, the arithmetic of one full-size window, ours vs stock (bench/flops.py).
Full-size models are built with random weights (their cost is real without downloads). On a
CPU only --size tiny is practical; absolute times there are noise, read the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gs_enhancer_addon.core.enhance.backend import SvdEnhancer  # noqa: E402
from gs_enhancer_addon.core.job import EnhanceJob  # noqa: E402
from gs_enhancer_addon.core.job_config import preset_config  # noqa: E402
from gs_enhancer_addon.core.model_cache import ModelCache  # noqa: E402
from gs_enhancer_addon.core.model_set import ModelsConfig  # noqa: E402
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene  # noqa: E402
from bench_enhancer import full_size_enhancer  # noqa: E402
from flops import print_window_flops, window_flops  # noqa: E402


@dataclass
class Size:
    gaussians: int  # Gaussians in the scene
    resolution: tuple[int, int]  # (width, height) of every view
    views: int  # novel views per segment (a window is views + 2 frames)
    references: int  # reference cameras
    steps: int  # diffusion steps per window
    refine_iterations: int
    baseline_iterations: int  # iterations timed for each training-step baseline


SIZES = {
    # 500k Gaussians, 2 segments x 23 views + 3 references ~ 50 views at 512 px: issue 10's target scene.
    "full": Size(500_000, (512, 512), 23, 3, 25, 3000, 50),
    "tiny": Size(2_000, (64, 48), 3, 3, 2, 20, 10),
}


def versions() -> dict[str, str]:
    import diffusers
    import open_clip
    import transformers

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "diffusers": diffusers.__version__, "transformers": transformers.__version__,
           "open_clip": open_clip.__version__}
    try:
        import gsplat

        out["gsplat"] = gsplat.__version__
    except Exception:  # noqa: BLE001 - gsplat needs CUDA tooling to import fully
        out["gsplat"] = "unavailable"
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory / 2**30
        return f"{torch.cuda.get_device_name(device)} ({total:.0f} GiB)"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def interleaved_medians(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each zero-argument run, after one warm-up each; the runs alternate (a, b,
    a, b, ...) with the order flipped every round, so drifting machine load hits all alike."""
    names = list(runs)
    for name in names:
        runs[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in seconds.items()}


def scene_and_cameras(size: Size):
    config = SampleConfig(sphere_gaussians=int(size.gaussians * 0.6), ground_gaussians=size.gaussians
                          - int(size.gaussians * 0.6), reference_cameras=size.references,
                          width=size.resolution[0], height=size.resolution[1])
    return sample_scene(config), sample_cameras(config)




# -- the job, stage by stage ---------------------------------------------------------------------

def run_job(size: Size, device: torch.device, style: str):
    scene, cameras = scene_and_cameras(size)
    config = preset_config("balanced", device=str(device), models=ModelsConfig(tiny=True))
    config.trajectory.views_per_segment = size.views
    config.enhance = replace(config.enhance, num_inference_steps=size.steps)
    config.refine = replace(config.refine, iterations=size.refine_iterations)
    config.stylize.text = style
    cache = ModelCache()
    if size is SIZES["full"]:  # SVD-xt-sized models with random weights, in place of the tiny set
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


# -- baseline 1: refine step vs a plain 3DGS step -----------------------------------------------

def plain_training(scene, views, iterations: int, device: torch.device) -> None:
    """Plain 3DGS training: per step render one view, L1 + 0.2 (1 - SSIM), backward, Adam."""
    from gs_enhancer_addon.core.image_metrics import ssim
    from gs_enhancer_addon.core.render import render

    params = scene.to_torch(device, requires_grad=True)
    optimizer = torch.optim.Adam([params.means, params.quats, params.log_scales, params.opacity_logits, params.sh],
                                 lr=1e-3)
    targets = [torch.as_tensor(v.image, device=device) for v in views]
    for i in range(iterations):
        k = i % len(views)
        rgb = render(params, [views[k].camera]).rgb[0]  # [H, W, 3]
        loss = (rgb - targets[k]).abs().mean() + 0.2 * (1 - ssim(rgb, targets[k]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)


def ours_training(scene, views, iterations: int, device: torch.device, config) -> None:
    """The product's refine() (set-up included, as in plain_training)."""
    from gs_enhancer_addon.core.refine import refine

    refine(scene, views, replace(config, iterations=iterations), device=device)
    _sync(device)


def refine_baseline(size: Size, device: torch.device, refine_config, repeats: int) -> dict:
    from gs_enhancer_addon.core.trajectory import trajectory_from_references
    from gs_enhancer_addon.core.render.views import render_views_numpy
    from gs_enhancer_addon.core.refine import TrainingView

    scene, cameras = scene_and_cameras(size)
    trajectory = trajectory_from_references(cameras, replace(preset_config("fast").trajectory,
                                                             views_per_segment=size.views))
    images = render_views_numpy(scene, trajectory.cameras, device)
    views = [TrainingView(camera=c, image=images[i], confidence=float(trajectory.confidence[i]),
                          is_reference=i in trajectory.reference_indices) for i, c in enumerate(trajectory.cameras)]
    noisy = replace(scene, sh=scene.sh + np.float32(0.05))  # something to fit
    n = size.baseline_iterations
    seconds = interleaved_medians({"ours": lambda: ours_training(noisy, views, n, device, refine_config),
                                   "plain": lambda: plain_training(noisy, views, n, device)}, repeats)
    ours, plain = seconds["ours"] / n, seconds["plain"] / n
    return {"ours_s_per_it": ours, "plain_s_per_it": plain, "ratio": ours / plain, "goal": 1.1,
            "rasterizer": "gsplat" if device.type == "cuda" else "reference (torch)", "repeats": repeats}


# -- baseline 2: our enhancer window vs diffusers' stock SVD pipeline ----------------------------

def enhancer_pipelines(size: Size, device: torch.device):
    """(ours, ours with a trained CFW, stock): three pipelines on one UNet / VAE / CLIP / scheduler."""
    import copy

    from diffusers import StableVideoDiffusionPipeline

    from gs_enhancer_addon.core.enhance.components import dummy_components
    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline

    if size is SIZES["full"]:
        ours = full_size_enhancer(device)
    else:  # the stock pipeline always resizes to 224 px for CLIP: a tiny CLIP that takes 224 px, for both
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        parts = dummy_components(0, num_frames=size.views + 2)
        parts["image_encoder"] = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
            patch_size=32, intermediate_size=37)).eval()
        parts["feature_extractor"] = CLIPImageProcessor(crop_size={"height": 224, "width": 224},
                                                        size={"shortest_edge": 224})
        ours = EnhancerPipeline(**parts)
        for module in (ours.unet, ours.decoder, ours.image_encoder):
            module.to(device)
    trained = copy.deepcopy(ours.decoder)  # random weights stand in for a trained CFW: same cost
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in trained.cfw.values():
            block.fuse_out.weight.copy_(torch.randn(block.fuse_out.weight.shape, generator=generator) * 1e-3)
    ours_trained = EnhancerPipeline(unet=ours.unet, decoder=trained, image_encoder=ours.image_encoder,
                                    feature_extractor=ours.feature_extractor, scheduler=ours.scheduler)
    stock = StableVideoDiffusionPipeline(vae=ours.decoder.vae, image_encoder=ours.image_encoder, unet=ours.unet,
                                         scheduler=ours.scheduler, feature_extractor=ours.feature_extractor)
    stock.set_progress_bar_config(disable=True)
    return ours, ours_trained, stock


def enhancer_baseline(size: Size, device: torch.device, config, repeats: int) -> dict:
    from PIL import Image

    frames = size.views + 2
    width, height = size.resolution
    ours, ours_trained, stock = enhancer_pipelines(size, device)
    window = torch.rand(frames, 3, height, width)
    first = Image.fromarray((window[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    cfg = replace(config, num_inference_steps=size.steps)

    def run(pipe):
        return lambda: (pipe(window, cfg, device=device), _sync(device))

    def run_stock():
        stock(first, height=height, width=width, num_frames=frames, num_inference_steps=size.steps,
              decode_chunk_size=cfg.decode_chunk_size, output_type="pt")
        _sync(device)

    seconds = interleaved_medians({"ours": run(ours), "ours_trained_cfw": run(ours_trained), "stock": run_stock},
                                  repeats)
    results = {f"{name}_s_per_window": value for name, value in seconds.items()}
    results["ratio"] = seconds["ours"] / seconds["stock"]
    results["ratio_trained_cfw"] = seconds["ours_trained_cfw"] / seconds["stock"]
    results.update(frames=frames, steps=size.steps, repeats=repeats, dtype=str(ours.unet.dtype))
    return results


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
