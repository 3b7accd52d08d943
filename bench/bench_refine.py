"""Does confidence-aware fine-tuning help? 3DGS-Enhancer's claim, simulated with a known truth.

3DGS-Enhancer (Liu et al., NeurIPS 2024) fine-tunes a sparse-view splat on diffusion-restored
views, weighting each view by its distance to the reference views (image-level confidence I_c)
and each pixel by the rendered Gaussian size (pixel-level confidence P_c). Here everything is
synthetic, so the truth is known:

- truth: Gaussians on two textured spheres and a checkered ground plane;
- start: a degraded copy "as sparse-view training leaves it", consistent with the reference
  views: Gaussians no reference sees are mostly missing, the rest blurred (larger, colour
  averaged); Gaussians seen by one reference only are thinned out and enlarged (blurred) and
  misplaced in depth along that reference's ray (the projection stays right); floaters sit on
  reference rays with the colour of the surface behind them (invisible from that reference);
- generated views (what the video-diffusion stage would deliver) on the trajectory between the
  references: truth renders with realistic errors -- a small pose misalignment, blur, a colour
  shift and hallucinated patches (content copied from elsewhere in the frame). The errors do not
  depend on the distance to the references, so near the references they are worse than what the
  start splat already renders there (a perfect restoration would not be);
- reference views: truth renders at the reference poses (the real photos).

Four fine-tunings from the same start, same iterations and seeds, evaluated against the truth on
held-out poses (another height and radius than the trajectory): reference views only; uniform
weights; image-level confidence only; image + pixel confidence (and, as an ablation, pixel
confidence only). Run:

    .venv/bin/python bench/bench_refine.py            # CPU setting (a few minutes on 2 cores)
    .venv/bin/python bench/bench_refine.py --large    # larger setting for a CUDA GPU
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gs_enhancer_addon.core.cameras import Camera, project_points  # noqa: E402
from gs_enhancer_addon.core.trajectory import image_confidence
from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene  # noqa: E402
from gs_enhancer_addon.core.geometry import quats_from_z_to  # noqa: E402
from gs_enhancer_addon.core.image_metrics import gaussian_window, mean_psnr, psnr, ssim  # noqa: E402
from gs_enhancer_addon.core.refine import RefineConfig, TrainingView, refine  # noqa: E402
from gs_enhancer_addon.core.render import render  # noqa: E402
from tests.builders import camera_looking_at, focal_for_fov  # noqa: E402


@dataclass
class Setting:
    size: int = 32  # image side, pixels
    n_sphere: int = 450  # Gaussians on the big sphere
    n_small: int = 150  # on the small sphere
    n_plane: int = 500  # on the ground plane
    references: int = 3  # reference cameras, evenly around the scene
    per_segment: int = 5  # generated views between consecutive references
    held_out: int = 9  # evaluation views
    prefit: int = 100  # steps fitting the degraded splat to the reference views (sparse-view training)
    iterations: int = 150  # fine-tuning steps per method
    seeds: tuple = (0, 1, 2)  # scene/degradation/generation seeds (results are averaged)
    device: str = "cpu"
    # generated-view errors (the same for every generated view)
    misalign_deg: float = 0.7  # std of the pose rotation error, degrees
    misalign_shift: float = 0.012  # std of the pose position error, x camera distance
    blur_px: float = 0.8  # Gaussian blur sigma, pixels
    gain_std: float = 0.05  # per-channel colour gain error
    offset_std: float = 0.025  # per-channel colour offset error
    patches: int = 2  # hallucinated patches per view
    patch_frac: float = 0.25  # patch side, fraction of the image side


CPU = Setting()
LARGE = Setting(size=128, n_sphere=6000, n_small=2000, n_plane=8000, per_segment=8, held_out=18,
                prefit=1000, iterations=3000, seeds=(0, 1, 2), device="cuda")  # fmt: skip

CAM_RADIUS, CAM_HEIGHT, LOOK_AT = 2.6, 1.1, (0.0, 0.0, -0.15)


# ------------------------------------------------------------------------------------- scene


def orbit(azimuth_deg: float, size: int, radius=CAM_RADIUS, height=CAM_HEIGHT, name="") -> Camera:
    a = np.radians(azimuth_deg)
    return camera_looking_at((radius * np.cos(a), radius * np.sin(a), height), LOOK_AT, size, size, focal_for_fov(size),
                             name=name)


def _fibonacci_sphere(n: int, rng) -> np.ndarray:  # [n, 3] unit vectors, jittered
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k + rng.uniform(0, 0.3, n)
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], -1)


def make_truth(s: Setting, rng) -> tuple[GaussianScene, np.ndarray]:
    """Ground-truth Gaussians (flat discs on textured surfaces) and their surface normals."""
    parts = []
    for n, r, c in ((s.n_sphere, 0.55, (0.0, 0.05, 0.0)), (s.n_small, 0.3, (0.75, -0.55, -0.25))):
        d = _fibonacci_sphere(n, rng)
        lon, lat = np.arctan2(d[:, 1], d[:, 0]), np.arcsin(d[:, 2])
        rgb = np.stack([0.5 + 0.4 * np.sin(5 * lon), 0.5 + 0.4 * np.sin(6 * lat + 1), 0.5 + 0.4 * np.cos(4 * lon + 5 * lat)], -1)
        spacing = np.sqrt(4 * np.pi * r * r / n)
        parts.append((np.asarray(c) + r * d, d, rgb, spacing))
    xy = rng.uniform(-1.3, 1.3, (s.n_plane, 2))
    checker = (np.floor(xy[:, 0] / 0.35) + np.floor(xy[:, 1] / 0.35)) % 2
    rgb = np.where(checker[:, None] > 0, [0.85, 0.8, 0.65], [0.2, 0.3, 0.5]) + 0.1 * xy[:, :1]
    pts = np.concatenate([xy, np.full((s.n_plane, 1), -0.55)], 1)
    parts.append((pts, np.tile([0.0, 0.0, 1.0], (s.n_plane, 1)), rgb, np.sqrt(2.6 * 2.6 / s.n_plane)))
    means = np.concatenate([p[0] for p in parts])
    normals = np.concatenate([p[1] for p in parts])
    rgb = np.clip(np.concatenate([p[2] for p in parts]), 0.02, 0.98)
    scales = np.concatenate([np.tile([0.7 * p[3], 0.7 * p[3], 0.1 * p[3]], (len(p[0]), 1)) for p in parts])
    scene = GaussianScene(
        means=means.astype(np.float32),
        quats=quats_from_z_to(normals).astype(np.float32),
        log_scales=np.log(scales).astype(np.float32),
        opacity_logits=np.full(len(means), 3.0, np.float32),
        sh=((rgb - 0.5) / SH_C0)[:, None, :].astype(np.float32),
    )
    return scene, normals


# ------------------------------------------------------------------------------ degradation


@torch.no_grad()
def seen_by(truth: GaussianScene, normals: np.ndarray, refs: list[Camera]) -> np.ndarray:
    """[N, R] bool: Gaussian centre visible (depth test on the truth render) and facing the camera."""
    g = truth.to_torch()
    out = np.zeros((len(truth), len(refs)), bool)
    for j, cam in enumerate(refs):
        depth = render(g, [cam]).depth[0, ..., 0].numpy()
        uv, z = project_points(cam, truth.means)  # pixel coordinates [N, 2], camera depth [N]
        u, v = uv[:, 0], uv[:, 1]
        inside = (z > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        ui, vi = np.clip(u.astype(int), 0, cam.width - 1), np.clip(v.astype(int), 0, cam.height - 1)
        visible = inside & (z < depth[vi, ui] * 1.04 + 0.02)
        to_cam = cam.center - truth.means
        facing = np.sum(normals * to_cam, 1) / np.linalg.norm(to_cam, axis=1) > 0.05
        out[:, j] = visible & facing
    return out


def degrade(truth: GaussianScene, normals: np.ndarray, refs: list[Camera], rng) -> GaussianScene:
    """A start splat as sparse-view training leaves it, consistent with the reference views."""
    seen = seen_by(truth, normals, refs)
    count = seen.sum(1)
    means, log_s = truth.means.astype(np.float64).copy(), truth.log_scales.copy()
    sh, opa = truth.sh.copy(), truth.opacity_logits.copy()
    keep = np.ones(len(truth), bool)
    # unseen: 70 % missing, the rest blurred (2.5x larger, colour averaged over 8 neighbours)
    unseen = count == 0
    keep &= ~(unseen & (rng.random(len(truth)) < 0.7))
    d2 = ((truth.means[:, None, :] - truth.means[None, :, :]) ** 2).sum(-1)
    knn = np.argsort(d2, axis=1)[:, :8]
    blurred_sh = truth.sh[knn].mean(1)
    sh[unseen] = blurred_sh[unseen]
    log_s[unseen] += np.log(2.5)
    # seen by one reference only: misplaced in depth along that reference's ray (no triangulation),
    # rescaled with the depth so the projection into that reference is unchanged
    single = count == 1
    ref_of = seen.argmax(1)
    for j, cam in enumerate(refs):
        m = single & (ref_of == j)
        factor = 1 + rng.normal(0, 0.08, m.sum())
        means[m] = cam.center + (means[m] - cam.center) * factor[:, None]
        log_s[m] += np.log(factor)[:, None]
    start = GaussianScene(means.astype(np.float32), truth.quats.copy(), log_s.astype(np.float32), opa, sh)
    start = start.subset(keep)
    return GaussianScene.concat([start, floaters(truth, seen, refs, rng, count=int(0.06 * len(truth)))])


def floaters(truth: GaussianScene, seen: np.ndarray, refs: list[Camera], rng, count: int) -> GaussianScene:
    """Blobs on reference rays with the colour of the surface behind them (invisible from that view)."""
    j = rng.integers(0, len(refs), count)
    src = np.array([rng.choice(np.flatnonzero(seen[:, r])) for r in j])
    t = rng.uniform(0.35, 0.8, count)
    centers = np.stack([refs[r].center for r in j])
    means = centers + t[:, None] * (truth.means[src] - centers)
    size = np.exp(truth.log_scales[src]).prod(1) ** (1 / 3) * t
    return GaussianScene(
        means=means.astype(np.float32),
        quats=np.tile(np.float32([1, 0, 0, 0]), (count, 1)),
        log_scales=np.log(np.repeat(size[:, None], 3, 1)).astype(np.float32),
        opacity_logits=np.full(count, 0.5, np.float32),
        sh=truth.sh[src].copy(),
    )


# ------------------------------------------------------------------------- generated views


def _perturbed(cam: Camera, s: Setting, rng) -> Camera:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = np.radians(rng.normal(0, s.misalign_deg))
    Kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + np.sin(ang) * Kx + (1 - np.cos(ang)) * Kx @ Kx
    w2c = cam.world_to_cam.copy()
    w2c[:3, :3] = R @ w2c[:3, :3]
    w2c[:3, 3] = R @ w2c[:3, 3] + rng.normal(0, s.misalign_shift * CAM_RADIUS, 3)
    return replace(cam, world_to_cam=w2c)


def _blur(img: torch.Tensor, sigma: float) -> torch.Tensor:  # [H, W, 3]
    w = gaussian_window(2 * int(3 * sigma) + 1, sigma)
    x = img.permute(2, 0, 1)[:, None]  # [3, 1, H, W]
    p = w.numel() // 2
    x = F.conv2d(F.pad(x, (p, p, 0, 0), mode="replicate"), w.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, p, p), mode="replicate"), w.view(1, 1, -1, 1))
    return x[:, 0].permute(1, 2, 0)


def _hallucinate(img: np.ndarray, s: Setting, rng) -> np.ndarray:
    """Paste patches copied from elsewhere in the frame (plausible texture, wrong place), feathered."""
    H = img.shape[0]
    side = max(4, int(s.patch_frac * H))
    yy, xx = np.mgrid[0:side, 0:side]
    r = np.maximum(np.abs(yy - (side - 1) / 2), np.abs(xx - (side - 1) / 2)) / (side / 2)
    mask = np.clip((1 - r) * 3, 0, 1)[..., None]
    out = img.copy()
    for _ in range(s.patches):
        y0, x0, y1, x1 = rng.integers(0, H - side, 4)
        src = img[y1 : y1 + side, x1 : x1 + side][:, ::-1]
        out[y0 : y0 + side, x0 : x0 + side] = mask * src + (1 - mask) * out[y0 : y0 + side, x0 : x0 + side]
    return out


@torch.no_grad()
def generated_view(truth_t, cam: Camera, s: Setting, rng) -> np.ndarray:
    """What an imperfect restoration delivers: misaligned, blurred, colour-shifted, hallucinated."""
    img = render(truth_t, [_perturbed(cam, s, rng)]).rgb[0].cpu()
    img = _blur(img, s.blur_px).numpy()
    img = img * (1 + rng.normal(0, s.gain_std, 3)) + rng.normal(0, s.offset_std, 3)
    return np.clip(_hallucinate(img, s, rng), 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------- experiment


@torch.no_grad()
def evaluate(scene: GaussianScene, cams: list[Camera], truth_imgs: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    g = scene.to_torch()
    pairs = [(render(g, [c]).rgb[0], t) for c, t in zip(cams, truth_imgs)]
    return np.array([psnr(a, b).item() for a, b in pairs]), np.array([ssim(a, b).item() for a, b in pairs])


METHODS = (
    "start (no fine-tuning)",
    "reference views only",
    "uniform weights",
    "image confidence",
    "image + pixel conf.",
    "pixel conf. only",  # ablation, not in the paper's table
)


def run_seed(s: Setting, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth, normals = make_truth(s, rng)
    ref_az = [360.0 * k / s.references for k in range(s.references)]
    refs = [orbit(a, s.size, name=f"ref{k}") for k, a in enumerate(ref_az)]
    step = 360.0 / s.references
    gen_az = [a + step * (t + 1) / (s.per_segment + 1) for a in ref_az for t in range(s.per_segment)]
    gens = [orbit(a, s.size, name=f"gen{a:.0f}") for a in gen_az]
    held_az = [360.0 * (k + 0.5) / s.held_out for k in range(s.held_out)]
    held = [orbit(a, s.size, radius=CAM_RADIUS * 0.92, height=CAM_HEIGHT * 1.3) for a in held_az]
    near = np.array([min(abs((a - r + 180) % 360 - 180) for r in ref_az) < step / 4 for a in held_az])

    truth_t = truth.to_torch()
    with torch.no_grad():
        truth_held = [render(truth_t, [c]).rgb[0] for c in held]
        ref_imgs = [render(truth_t, [c]).rgb[0].numpy() for c in refs]
    ref_views = [TrainingView(c, im, 1.0, is_reference=True) for c, im in zip(refs, ref_imgs)]
    base = RefineConfig(iterations=s.iterations, seed=seed)
    # the start: degraded, then fitted to the reference views as sparse-view training would
    start = refine(degrade(truth, normals, refs, rng), ref_views, replace(base, iterations=s.prefit), device=s.device)
    gen_imgs = [generated_view(truth_t, c, s, rng) for c in gens]
    conf = image_confidence(refs + gens, range(len(refs)))[len(refs):]  # the product's rule (core.cameras)

    gen_views = [TrainingView(c, im, float(ic)) for c, im, ic in zip(gens, gen_imgs, conf)]
    runs = {
        METHODS[1]: (ref_views, base),
        METHODS[2]: (ref_views + gen_views, replace(base, image_confidence=False, pixel_confidence=False)),
        METHODS[3]: (ref_views + gen_views, replace(base, image_confidence=True, pixel_confidence=False)),
        METHODS[4]: (ref_views + gen_views, replace(base, image_confidence=True, pixel_confidence=True)),
        METHODS[5]: (ref_views + gen_views, replace(base, image_confidence=False, pixel_confidence=True)),
    }
    res = {METHODS[0]: (*evaluate(start, held, truth_held), 0.0)}
    for name, (views, cfg) in runs.items():
        t0 = time.perf_counter()
        out = refine(start, views, cfg, device=s.device)
        res[name] = (*evaluate(out, held, truth_held), time.perf_counter() - t0)
    with torch.no_grad():
        truth_gen = [render(truth_t, [c]).rgb[0] for c in gens]
    gen_quality = mean_psnr(np.stack(gen_imgs), torch.stack(truth_gen))
    start_at_gen = evaluate(start, gens, truth_gen)[0]
    start_at_ref = evaluate(start, refs, [torch.as_tensor(im) for im in ref_imgs])[0]
    info = dict(n_truth=len(truth), n_start=len(start), near=near, gen_psnr=gen_quality,
                start_gen_psnr=start_at_gen, start_ref_psnr=start_at_ref, conf=conf)  # fmt: skip
    return {"res": res, "info": info}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--large", action="store_true", help="the larger CUDA setting")
    ap.add_argument("--iterations", type=int, help="override the fine-tuning steps")
    ap.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    a = ap.parse_args(argv)
    s = LARGE if a.large else CPU
    if a.iterations:
        s = replace(s, iterations=a.iterations)
    if a.seeds:
        s = replace(s, seeds=tuple(a.seeds))
    torch.manual_seed(0)
    t0 = time.perf_counter()
    runs = [run_seed(s, seed) for seed in s.seeds]
    print_table(s, runs, time.perf_counter() - t0)


def print_table(s: Setting, runs: list[dict], wall: float) -> None:
    i0 = runs[0]["info"]
    print(f"bench_refine: {s.size}x{s.size} px, truth {i0['n_truth']} Gaussians, start {i0['n_start']}, "
          f"{s.references} references, {s.references * s.per_segment} generated views, {s.held_out} held-out views, "
          f"{s.iterations} steps, seeds {list(s.seeds)}, device {s.device}, torch threads {torch.get_num_threads()}")  # fmt: skip
    gen = np.mean([r["info"]["gen_psnr"] for r in runs])
    sg = np.concatenate([r["info"]["start_gen_psnr"] for r in runs])
    cf = np.concatenate([r["info"]["conf"] for r in runs])
    sr = np.concatenate([r["info"]["start_ref_psnr"] for r in runs])
    print(f"generated views vs truth: PSNR {gen:.2f} dB; start splat at the same poses: "
          f"{sg[cf < 0.5].mean():.2f} dB where I_c < 0.5 (near references), {sg[cf >= 0.5].mean():.2f} dB elsewhere; "
          f"start splat at the reference views: {sr.mean():.2f} dB")  # fmt: skip
    near = runs[0]["info"]["near"]
    print(f"\n{'method':26s} {'PSNR':>7s} {'SSIM':>7s} {'PSNR near':>10s} {'PSNR far':>9s} {'s/run':>7s}  PSNR per seed")
    for m in METHODS:
        p = np.stack([r["res"][m][0] for r in runs])  # [seeds, views]
        q = np.stack([r["res"][m][1] for r in runs])
        t = np.mean([r["res"][m][2] for r in runs])
        per_seed = " ".join(f"{v:.2f}" for v in p.mean(1))
        print(f"{m:26s} {p.mean():7.2f} {q.mean():7.4f} {p[:, near].mean():10.2f} {p[:, ~near].mean():9.2f} {t:7.1f}  {per_seed}")
    print(f"\nPSNR/SSIM: mean over held-out views and seeds (another height/radius than the trajectory); "
          f"'near': held-out views within {360 / s.references / 4:.0f} deg of a reference. Total {wall:.0f} s.")  # fmt: skip


if __name__ == "__main__":
    main()
