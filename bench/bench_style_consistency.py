"""Consistency of text stylization across views: per-frame 2D (CLIPstyler's f alone) vs the 3D result.

For every view t the stylized image is warped into view t-1 (short range) and t-7 (long range)
with the rendered depth and the known poses (bench/consistency.py), occlusions and empty
pixels masked, and compared with the stylized image of that view: RMSE on [0, 1] colours and a
perceptual distance (LPIPS-style channel-normalized VGG-19 relu4_2/relu5_2 feature distance with
unit layer weights). Rows:
  (a) per-frame 2D  f applied to each view independently (after its per-prompt training);
  (a') f after mutual learning (its mimic loss pulled it toward the 3D renders);
  (b) 3D result     the Gaussians after 2D-3D mutual learning, rendered in each view;
  content           the unstylized renders: the floor set by warping/resampling alone.
Runs offline with a tiny seeded open_clip ViT and a narrow random VGG-19 (no downloads), so the
numbers show the machinery, not the look of a real style; pass --clip/--pretrained/--vgg for real
weights on a machine that has them.

    .venv/bin/python bench/bench_style_consistency.py [--views 12 --size 48 --rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gs_enhancer_addon.core.refine import RefineConfig  # noqa: E402
from gs_enhancer_addon.core.render import render  # noqa: E402
from gs_enhancer_addon.core.stylize.clip_model import load_clip  # noqa: E402
from gs_enhancer_addon.core.stylize.config import (  # noqa: E402
    ClipSpec, MutualConfig, StyleLossConfig, StyleNetConfig, StylizeConfig, VggSpec)
from gs_enhancer_addon.core.render.views import render_views_chw  # noqa: E402
from gs_enhancer_addon.core.stylize.mutual import stylize_scene  # noqa: E402
from gs_enhancer_addon.core.stylize.vgg import load_vgg19  # noqa: E402
from consistency import masked_feature_distance, masked_rmse, warp_into  # noqa: E402 - bench/consistency.py
from tests.builders import arc_cameras, checker_blob, tiny_style_models  # noqa: E402


def consistency(images, depth, alpha, cameras, gap: int, vgg) -> tuple[float, float]:
    """Mean masked RMSE and perceptual distance of view t warped into view t-gap, over all t."""
    rmse, perc = [], []
    for t in range(gap, len(cameras)):
        s = t - gap
        warped, mask = warp_into(images[t], depth[t], cameras[t], depth[s], alpha[s], cameras[s])
        if mask.sum() < 16:
            continue
        rmse.append(masked_rmse(warped, images[s], mask))
        perc.append(masked_feature_distance(vgg, warped, images[s], mask))
    return float(np.mean(rmse)), float(np.mean(perc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--gaussians", type=int, default=1500)
    ap.add_argument("--text", default="a watercolor painting")
    ap.add_argument("--pretrain", type=int, default=60, help="2D iterations of f before mutual learning")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--refine", type=int, default=120, help="Gaussian fine-tuning iterations per fit")
    ap.add_argument("--clip", default="", help="CLIP model name or folder (default: tiny random CLIP)")
    ap.add_argument("--pretrained", default="laion2b_s34b_b79k")
    ap.add_argument("--vgg", default="", help="VGG-19 safetensors/hub id (default: tiny random VGG)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    clip, vgg = tiny_style_models(seed=0)
    if args.clip:
        clip = load_clip(ClipSpec(args.clip, args.pretrained))
    if args.vgg:
        vgg = load_vgg19(VggSpec(args.vgg))
    scene, cameras = checker_blob(args.gaussians, seed=0), arc_cameras(args.views, args.size, span_deg=70)
    cpu = torch.device("cpu")
    content = render_views_chw(scene, cameras, cpu)
    geometry = render(scene.to_torch(), cameras)  # colours-only mode keeps this geometry
    depth, alpha = geometry.depth[..., 0], geometry.alpha[..., 0]

    small = args.size < 128
    config = StylizeConfig(
        text=args.text,
        losses=StyleLossConfig(num_crops=16 if small else 64, crop_size=min(128, args.size // 2)),
        network=StyleNetConfig(iterations=args.pretrain, lr=5e-4 if args.clip else 2e-3),
        mutual=MutualConfig(rounds=args.rounds, style_iterations=args.pretrain // 2, refine_iterations=args.refine),
    )
    start = time.perf_counter()
    result = stylize_scene(scene, cameras, [c.permute(1, 2, 0).numpy() for c in content], config, clip, vgg,
                           RefineConfig(views_per_step=2), evaluate=True)
    seconds = time.perf_counter() - start

    rows = {
        "(a) per-frame 2D (f alone)": [torch.as_tensor(im) for im in result.per_frame_2d],
        "(a') f after mutual learning": [torch.as_tensor(im) for im in result.final_2d],
        "(b) 3D result (mutual learning)": [r.permute(1, 2, 0) for r in render_views_chw(result.scene, cameras, cpu)],
        "content (unstylized renders)": [c.permute(1, 2, 0) for c in content],
    }
    print(f"\nStyle consistency: {args.views} views {args.size}x{args.size}, {args.gaussians} Gaussians, "
          f"'{args.text}', CLIP={'tiny random' if not args.clip else args.clip}, "
          f"VGG={'tiny random' if not args.vgg else args.vgg}; stylization took {seconds:.1f} s "
          f"({torch.get_num_threads()} thread(s), CPU)")
    print(f"{'':34s} {'short t->t-1':>24s} {'long t->t-7':>24s}")
    print(f"{'method':34s} {'RMSE':>11s} {'perceptual':>12s} {'RMSE':>11s} {'perceptual':>12s}")
    for name, images in rows.items():
        short, long_ = consistency(images, depth, alpha, cameras, 1, vgg), consistency(images, depth, alpha, cameras, 7, vgg)
        print(f"{name:34s} {short[0]:11.4f} {short[1]:12.4f} {long_[0]:11.4f} {long_[1]:12.4f}")
    print("\nMutual-learning rounds (fixed-seed evaluation): total / mimic / fit MSE")
    for i, r in enumerate(result.rounds):
        print(f"  fit {i}: total {r['total']:.1f}  mimic {r.get('mimic', 0):.2f}  fit_mse {r['fit_mse']:.4f}")


if __name__ == "__main__":
    main()
