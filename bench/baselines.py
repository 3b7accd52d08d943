"""The two baselines bench/pipeline.py times next to the product, in the same process and size.

  refine step   ours (core.refine.refine: pixel-confidence render + confidence-weighted loss) vs a
                plain 3DGS training step (render, L1 + 0.2 D-SSIM, backward, Adam) with the same
                rasterizer (gsplat on CUDA, our reference on CPU) and the product's optimizer set-up
                (one Adam per parameter group, 3DGS rates, the means schedule), so the ratio measures
                only the product's extra work; goal ours/plain <= 1.1;
  enhancer      our window (per-frame conditioning, CFW decoder, colour correction) vs diffusers'
                stock StableVideoDiffusionPipeline with the same UNet/VAE/CLIP, size and steps.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sizes import Size, scene_and_cameras  # noqa: E402
from timing import interleaved_medians, sync  # noqa: E402

from gs_enhancer_addon.core.refine_config import RefineConfig  # noqa: E402


# -- baseline 1: refine step vs a plain 3DGS step -----------------------------------------------

def plain_training(scene, views, iterations: int, device: torch.device, config: RefineConfig) -> None:
    """Plain 3DGS training: per step render one view, L1 + λ (1 - SSIM), backward, then one Adam step
    per parameter group, built exactly as refine() builds them (set-up included, as in ours_training)."""
    from gs_enhancer_addon.core.image_metrics import ssim
    from gs_enhancer_addon.core.refine import _as_tensors, _make_optimizers, _make_params, means_lr, scene_extent
    from gs_enhancer_addon.core.render import render

    extent = config.scene_extent or scene_extent([v.camera for v in views], scene.means)
    params = _make_params(scene, device, freeze_geometry=False)
    optimizers = _make_optimizers(params, config, extent)
    targets = [torch.as_tensor(v.image, dtype=torch.float32, device=device) for v in views]
    background = torch.tensor(config.background, dtype=torch.float32, device=device)
    for i in range(iterations):
        k = i % len(views)
        optimizers["means"].param_groups[0]["lr"] = means_lr(i, iterations, config, extent)
        rgb = render(_as_tensors(params), [views[k].camera], background=background).rgb[0]  # [H, W, 3]
        loss = (rgb - targets[k]).abs().mean() + config.ssim_weight * (1 - ssim(rgb, targets[k]))
        loss.backward()
        for optimizer in optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    sync(device)


def ours_training(scene, views, iterations: int, device: torch.device, config: RefineConfig) -> None:
    """The product's refine() (set-up included, as in plain_training)."""
    from gs_enhancer_addon.core.refine import refine

    refine(scene, views, replace(config, iterations=iterations), device=device)
    sync(device)


def refine_baseline(size: Size, device: torch.device, refine_config: RefineConfig, repeats: int) -> dict:
    from gs_enhancer_addon.core.refine import TrainingView
    from gs_enhancer_addon.core.render.views import render_views_numpy
    from gs_enhancer_addon.core.trajectory import TrajectoryConfig, trajectory_from_references

    scene, cameras = scene_and_cameras(size)
    trajectory = trajectory_from_references(cameras, TrajectoryConfig(views_per_segment=size.views))
    images = render_views_numpy(scene, trajectory.cameras, device)  # [V, H, W, 3]
    views = [TrainingView(camera=c, image=images[i], confidence=float(trajectory.confidence[i]),
                          is_reference=i in trajectory.reference_indices) for i, c in enumerate(trajectory.cameras)]
    noisy = replace(scene, sh=scene.sh + np.float32(0.05))  # something to fit
    config = replace(refine_config, views_per_step=1)  # plain 3DGS: one view per step
    n = size.baseline_iterations
    seconds = interleaved_medians({"ours": lambda: ours_training(noisy, views, n, device, config),
                                   "plain": lambda: plain_training(noisy, views, n, device, config)}, repeats)
    ours, plain = seconds["ours"] / n, seconds["plain"] / n
    return {"ours_s_per_it": ours, "plain_s_per_it": plain, "ratio": ours / plain, "goal": 1.1,
            "rasterizer": "gsplat" if device.type == "cuda" else "reference (torch)", "repeats": repeats}


# -- baseline 2: our enhancer window vs diffusers' stock SVD pipeline ----------------------------

def enhancer_pipelines(size: Size, device: torch.device):
    """(ours, ours with a trained CFW, stock): three pipelines on one UNet / VAE / CLIP / scheduler."""
    from diffusers import StableVideoDiffusionPipeline

    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline

    ours = _full_size_ours(device) if size.full_models else _tiny_ours(size, device)
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


def _full_size_ours(device: torch.device):
    from models_full import full_size_enhancer

    return full_size_enhancer(device)


def _tiny_ours(size: Size, device: torch.device):
    """The tiny test models, with a tiny CLIP that takes 224 px: the stock pipeline always resizes
    to 224 px for CLIP, so both pipelines get the same encoder."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from gs_enhancer_addon.core.enhance.components import dummy_components
    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline

    parts = dummy_components(0, num_frames=size.views + 2)
    parts["image_encoder"] = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        patch_size=32, intermediate_size=37)).eval()
    parts["feature_extractor"] = CLIPImageProcessor(crop_size={"height": 224, "width": 224},
                                                    size={"shortest_edge": 224})
    ours = EnhancerPipeline(**parts)
    for module in (ours.unet, ours.decoder, ours.image_encoder):
        module.to(device)
    return ours


def enhancer_baseline(size: Size, device: torch.device, config, repeats: int) -> dict:
    from PIL import Image

    frames = size.views + 2
    width, height = size.resolution
    ours, ours_trained, stock = enhancer_pipelines(size, device)
    window = torch.rand(frames, 3, height, width)
    first = Image.fromarray((window[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    cfg = replace(config, num_inference_steps=size.steps)

    def run(pipe):
        return lambda: (pipe(window, cfg, device=device), sync(device))

    def run_stock():
        stock(first, height=height, width=width, num_frames=frames, num_inference_steps=size.steps,
              decode_chunk_size=cfg.decode_chunk_size, output_type="pt")
        sync(device)

    seconds = interleaved_medians({"ours": run(ours), "ours_trained_cfw": run(ours_trained), "stock": run_stock},
                                  repeats)
    results = {f"{name}_s_per_window": value for name, value in seconds.items()}
    results["ratio"] = seconds["ours"] / seconds["stock"]
    results["ratio_trained_cfw"] = seconds["ours_trained_cfw"] / seconds["stock"]
    results.update(frames=frames, steps=size.steps, repeats=repeats, dtype=str(ours.unet.dtype))
    return results
