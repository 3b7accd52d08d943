"""Scenes, cameras and a render read-back for the Gaussian display tests and bench (numpy + bpy, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gs_enhancer_addon.core.geometry import matrix_from_quat
from gs_enhancer_addon.core.gaussians import SH_C0, GaussianScene


def anisotropic_scene(n: int = 24, seed: int = 0, spread: float = 1.0, overlap: bool = False) -> GaussianScene:
    """Semi-transparent, strongly anisotropic, randomly rotated Gaussians of SH degree 0.

    Without `overlap` they sit on a jittered grid a few sigmas apart (each pixel sees mostly one),
    with it they are scattered in a ball and cross each other.
    """
    rng = np.random.default_rng(seed)
    if overlap:
        means = rng.standard_normal((n, 3)) * 0.5 * spread
    else:
        side = int(np.ceil(np.sqrt(n)))
        grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n] - (side - 1) / 2
        means = np.stack([grid[:, 0] * 0.8 * spread, rng.uniform(-0.3, 0.3, n), grid[:, 1] * 0.8 * spread], 1)
    scales = rng.uniform(0.03, 0.25, (n, 3)) * spread
    colors = rng.uniform(0.05, 0.95, (n, 3))
    opacity = rng.uniform(0.3, 0.95, n)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return GaussianScene(means=f32(means), quats=f32(rng.standard_normal((n, 4))), log_scales=f32(np.log(scales)),
                         opacity_logits=f32(np.log(opacity / (1 - opacity))),
                         sh=f32(((colors - 0.5) / SH_C0)[:, None, :]))


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.maximum(c, 0) ** (1 / 2.4) - 0.055)


def ray_traced_reference(scene: GaussianScene, camera) -> np.ndarray:  # [H, W, 4] premultiplied display RGB, alpha
    """What the display computes, in numpy: per pixel-centre ray, each Gaussian's maximum response
    alpha = min(0.999, o exp(-d_min^2 / 2)) (3DGRT), composited front to back by centre distance in
    linear light, then encoded to sRGB as straight colour and premultiplied again (what Blender's
    Standard view writes over a transparent film, times its alpha)."""
    h, w = camera.height, camera.width
    cam_to_world = np.linalg.inv(camera.world_to_cam)
    origin = cam_to_world[:3, 3]
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    pix = np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(camera.K).T
    dirs = pix @ cam_to_world[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)  # [H, W, 3]
    order = np.argsort((scene.means - origin) @ cam_to_world[:3, 2])  # centre depth, as the rasterizer sorts
    colors, opacities = srgb_to_linear(scene.colors()), scene.opacities()
    rgb, transmittance = np.zeros((h, w, 3)), np.ones((h, w))
    for i in order:
        to_normalized = matrix_from_quat(scene.quats[i]).T / np.exp(scene.log_scales[i])[:, None]  # S^-1 R^T
        p = to_normalized @ (origin - scene.means[i])
        v = dirs @ to_normalized.T
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        d2 = p @ p - (v @ p) ** 2
        alpha = np.minimum(0.999, opacities[i] * np.exp(-0.5 * d2))
        alpha[alpha < 1 / 255] = 0.0
        rgb += (transmittance * alpha)[..., None] * colors[i]
        transmittance *= 1 - alpha
    coverage = 1 - transmittance
    straight = np.where(coverage[..., None] > 1e-6, rgb / np.maximum(coverage, 1e-6)[..., None], 0.0)
    return np.concatenate([linear_to_srgb(np.clip(straight, 0, 1)) * coverage[..., None], coverage[..., None]], -1)


def setup_render(bscene, engine: str, samples: int, path: Path) -> None:
    """Point-sampled pixels (no reconstruction filter), transparent film, Standard view, RGBA PNG."""
    r = bscene.render
    r.engine = engine
    r.film_transparent = True
    bscene.view_settings.view_transform = "Standard"
    bscene.view_settings.look = "None"
    bscene.view_settings.exposure, bscene.view_settings.gamma = 0.0, 1.0
    if engine == "CYCLES":
        bscene.cycles.device = "CPU"
        bscene.cycles.samples = samples
        bscene.cycles.use_denoising = False
        bscene.cycles.filter_width = 0.01
    else:
        bscene.eevee.taa_render_samples = samples
        r.filter_size = 0.0
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGBA"
    r.image_settings.color_depth = "8"  # a byte image reads back as the stored straight sRGB values
    r.filepath = str(path)


def render_rgba(bscene) -> np.ndarray:  # [H, W, 4]: premultiplied display RGB, alpha; top row first
    """F12 with write_still (the Render Result has no pixels in background mode), read back from the file."""
    import bpy

    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(bscene.render.filepath)
    try:
        w, h = image.size
        pixels = np.empty(w * h * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    rgba = pixels.reshape(h, w, 4)[::-1]
    return np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)  # PNG stores straight colour


def footprint_psnr(image: np.ndarray, reference: np.ndarray, alpha: np.ndarray, threshold: float = 0.05) -> float:
    """PSNR of the RGB over the pixels where the reference's alpha exceeds `threshold`."""
    mask = alpha > threshold
    mse = float(np.mean((image[mask] - reference[mask]) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))
