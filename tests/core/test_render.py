"""The differentiable renderer (core/render): analytic cases, compositing, SH, features, gradients.

All on the CPU reference rasterizer, tiny scenes. The CUDA parity test lives in
test_render_cuda.py and reuses the builders below and tests/builders.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.cameras import Camera
from tests.builders import camera_looking_at, random_scene
from gs_enhancer_addon.core.errors import DeviceError, InputError
from gs_enhancer_addon.core.gaussians import FIELDS, SH_C0, GaussianScene, GaussianTensors
from gs_enhancer_addon.core.render import RenderSettings, render, sh_to_rgb




# ---------------------------------------------------------------- scene and camera builders


def tensors(scene: GaussianScene, dtype=torch.float64, device="cpu", grad=True) -> GaussianTensors:
    t = scene.to_torch(device)
    return GaussianTensors(*(getattr(t, f).to(dtype).requires_grad_(grad) for f in FIELDS))


def single(mean, sigma, opacity, dc=(0.0, 0.0, 0.0), sh_bases=1) -> GaussianScene:
    """One isotropic Gaussian; opacity given directly (not as a logit)."""
    sh = np.zeros((1, sh_bases, 3), np.float32)
    sh[0, 0] = dc
    return GaussianScene(
        np.array([mean], np.float32),
        np.array([[1, 0, 0, 0]], np.float32),
        np.full((1, 3), math.log(sigma), np.float32),
        np.array([math.log(opacity / (1 - opacity))], np.float32),
        sh,
    )


def pinhole(width, height, f, cx, cy, w2c=None) -> Camera:
    return Camera(np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]]), np.eye(4) if w2c is None else w2c, width, height)


# ---------------------------------------------------------------- analytic single Gaussian


def test_single_isotropic_gaussian_has_the_analytic_footprint_and_peak():
    f, z, sigma, opac = 40.0, 4.0, 0.2, 0.8
    cam = pinhole(32, 24, f, cx=12.5, cy=9.5)  # the Gaussian on the axis lands on pixel (12, 9)
    out = render(tensors(single((0, 0, z), sigma, opac)), [cam])
    alpha = out.alpha[0, :, :, 0].detach()
    assert tuple(alpha.shape) == (24, 32)
    assert torch.unravel_index(alpha.argmax(), alpha.shape) == (9, 12)
    assert alpha[9, 12].item() == pytest.approx(opac, abs=1e-6)  # peak alpha = opacity
    var = (f * sigma / z) ** 2 + 0.3  # EWA: J Sigma J^T plus the eps2d low-pass
    ys, xs = torch.meshgrid(torch.arange(24) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    expected = opac * torch.exp(-0.5 * ((xs - 12.5) ** 2 + (ys - 9.5) ** 2) / var).double()
    expected = torch.where(expected >= 1 / 255, expected, 0.0)
    torch.testing.assert_close(alpha, expected, atol=1e-6, rtol=1e-5)  # float32 storage
    assert out.depth[0, 9, 12, 0].item() == pytest.approx(z)


@pytest.mark.parametrize("mean", [(0.3, -0.2, 3.0), (-0.51, 0.37, 5.0)])
def test_off_axis_gaussian_lands_at_its_projection(mean):
    f, cx, cy = 30.0, 20.0, 15.0
    out = render(tensors(single(mean, 0.05, 0.9)), [pinhole(40, 30, f, cx, cy)])
    alpha = out.alpha[0, :, :, 0].detach()
    ys, xs = torch.meshgrid(torch.arange(30) + 0.5, torch.arange(40) + 0.5, indexing="ij")
    centroid = ((alpha * xs).sum() / alpha.sum(), (alpha * ys).sum() / alpha.sum())
    x, y, z = mean
    assert centroid[0].item() == pytest.approx(f * x / z + cx, abs=0.05)
    assert centroid[1].item() == pytest.approx(f * y / z + cy, abs=0.05)


def test_gaussians_behind_or_too_close_are_culled_without_nan_gradients():
    scene = GaussianScene(
        np.array([[0, 0, -2.0], [0, 0, 0.005], [0, 0, 3.0]], np.float32),
        np.tile(np.array([[1, 0, 0, 0]], np.float32), (3, 1)),
        np.full((3, 3), math.log(0.3), np.float32),
        np.full(3, 2.0, np.float32),
        np.ones((3, 1, 3), np.float32),
    )
    g = tensors(scene)
    out = render(g, [pinhole(16, 16, 20.0, 8, 8)])
    assert out.visible[0].tolist() == [False, False, True]
    out.rgb.sum().backward()
    assert torch.isfinite(g.means.grad).all()
    assert g.means.grad[:2].abs().sum() == 0 and g.means.grad[2].abs().sum() > 0


# ---------------------------------------------------------------- compositing


def test_two_overlapping_gaussians_composite_in_depth_order():
    red, blue = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    cam = pinhole(16, 16, 30.0, 8.5, 8.5)

    def pair(z_red, z_blue):
        a, b = single((0, 0, z_red), 0.1, 0.7, _dc(red)), single((0, 0, z_blue), 0.1, 0.6, _dc(blue))
        scene = GaussianScene(*(np.concatenate([getattr(a, k), getattr(b, k)]) for k in FIELDS))
        return render(tensors(scene), [cam])

    front_red, front_blue = pair(2.0, 3.0), pair(3.0, 2.0)
    px = front_red.rgb[0, 8, 8].detach()
    assert px.tolist() == pytest.approx([0.7, 0.0, 0.6 * 0.3])
    px = front_blue.rgb[0, 8, 8].detach()
    assert px.tolist() == pytest.approx([0.7 * 0.4, 0.0, 0.6])
    alpha = 1 - 0.3 * 0.4
    assert front_red.alpha[0, 8, 8, 0].item() == pytest.approx(alpha)
    # expected depth: (0.7 * 2 + 0.18 * 3) / 0.88
    assert front_red.depth[0, 8, 8, 0].item() == pytest.approx((0.7 * 2 + 0.18 * 3) / alpha)


def test_saturated_pixels_stop_compositing_like_gsplat():
    """An opaque front layer (alpha 0.999 twice) hides everything behind it."""
    scenes = [single((0, 0, 2.0 + 0.01 * i), 0.5, 0.9999, _dc((1, 1, 1))) for i in range(3)]
    behind = single((0, 0, 4.0), 0.5, 0.9, _dc((1, 0, 0)))
    scene = GaussianScene(*(np.concatenate([getattr(s, k) for s in scenes + [behind]]) for k in FIELDS))
    out = render(tensors(scene), [pinhole(8, 8, 10.0, 4.5, 4.5)])
    # two 0.999 layers: T = 1e-6 would fall below 1e-4, so the second is skipped (gsplat's rule)
    assert out.alpha[0, 4, 4, 0].item() == pytest.approx(0.999, abs=1e-9)
    assert out.rgb[0, 4, 4].tolist() == pytest.approx([0.999] * 3, abs=1e-6)  # float32 colour 1.0


def test_sh_degree_zero_gives_half_plus_c0_times_dc():
    scene = random_scene(40, seed=3, degree=3, opacity=2.0)
    cam = camera_looking_at((0, -3, 0.5), (0, 0, 0), width=24, height=20)
    out = render(tensors(scene), [cam], sh_degree=0)
    colors = 0.5 + SH_C0 * scene.sh[:, 0].astype(np.float64)
    expected = render(
        tensors(scene), [cam], features=torch.tensor(np.clip(colors, 0, None)), sh_degree=0
    ).features
    torch.testing.assert_close(out.rgb, expected)
    # a Gaussian with a constant colour: rgb / alpha is exactly 0.5 + C0 * dc everywhere it shows
    dc = (0.4, -0.8, 1.2)
    one = render(tensors(single((0, 0, 3), 0.3, 0.5, dc, sh_bases=16)), [pinhole(16, 16, 20, 8, 8)], sh_degree=0)
    mask = one.alpha[0, ..., 0] > 0
    ratio = (one.rgb[0][mask] / one.alpha[0][mask]).detach()
    torch.testing.assert_close(ratio, torch.tensor([0.5 + SH_C0 * c for c in dc]).double().expand_as(ratio))


def test_view_dependent_colour_follows_the_degree_one_band():
    """Y_1^1 term -C1 * x: seen from -x the Gaussian is redder than seen from +x."""
    scene = single((0, 0, 0), 0.3, 0.9, sh_bases=4)
    scene.sh[0, 3, 0] = 1.0  # the x band, red channel
    left = render(tensors(scene), [camera_looking_at((-3, 0, 0), (0, 0, 0), width=16, height=16)])
    right = render(tensors(scene), [camera_looking_at((3, 0, 0), (0, 0, 0), width=16, height=16)])
    c1 = math.sqrt(3 / (4 * math.pi))
    # from -x the direction to the Gaussian is +x: colour 0.5 - C1; from +x it is 0.5 + C1
    for out, red in ((left, 0.5 - c1), (right, 0.5 + c1)):
        px = out.rgb[0, 8, 8] / out.alpha[0, 8, 8]
        assert px.tolist() == pytest.approx([red, 0.5, 0.5], abs=1e-9)


def test_sh_basis_matches_gsplat_torch_reference():
    impl = pytest.importorskip("gsplat.cuda._torch_impl")
    dirs = torch.nn.functional.normalize(torch.randn(64, 3, dtype=torch.float64), dim=-1)
    coeffs = torch.randn(64, 16, 3, dtype=torch.float64)
    for degree in range(4):
        ours = sh_to_rgb(coeffs, dirs * 2.5, degree)
        theirs = torch.clamp_min(impl._spherical_harmonics(degree, dirs, coeffs) + 0.5, 0.0)
        torch.testing.assert_close(ours, theirs)


def test_features_composite_with_the_colour_weights():
    scene = random_scene(60, seed=1, degree=0, opacity=1.0)
    cam = camera_looking_at((0.3, -3, 0.4), (0, 0, 0), width=20, height=16)
    g = tensors(scene)
    plain = render(g, [cam])
    rgb_colors = 0.5 + SH_C0 * g.sh[:, 0]
    feats = torch.cat([rgb_colors, torch.ones(60, 1, dtype=torch.float64), torch.exp(g.log_scales)], dim=-1)
    out = render(g, [cam], features=feats, background=(0.2, 0.9, 0.1))
    assert tuple(out.features.shape) == (1, 16, 20, 7)
    torch.testing.assert_close(out.features[..., :3], plain.rgb)  # no background on features
    torch.testing.assert_close(out.features[..., 3:4], out.alpha)
    assert (out.features[..., 4:] >= 0).all() and out.features[..., 4:].max() > 0


# ---------------------------------------------------------------- cameras and background


def test_batched_cameras_equal_single_renders_and_sizes_must_match():
    scene = random_scene(50, seed=2)
    cams = [camera_looking_at((3 * math.cos(a), 3 * math.sin(a), 0.5), (0, 0, 0)) for a in (0.0, 1.0, 2.5)]
    g = tensors(scene)
    batch = render(g, cams)
    assert tuple(batch.rgb.shape) == (3, 24, 32, 3) and tuple(batch.visible.shape) == (3, 50)
    for i, cam in enumerate(cams):
        one = render(g, [cam])
        torch.testing.assert_close(batch.rgb[i], one.rgb[0])
        torch.testing.assert_close(batch.depth[i], one.depth[0])
    assert not torch.equal(batch.rgb[0], batch.rgb[1])
    with pytest.raises(InputError, match="same resolution"):
        render(g, [cams[0], camera_looking_at((0, 3, 0), (0, 0, 0), width=16, height=16)])
    with pytest.raises(InputError, match="No camera"):
        render(g, [])


def test_background_fills_where_nothing_is_drawn():
    scene = single((0, 0, 3), 0.1, 0.9, _dc((0, 0, 0)))  # a black blob
    cams = [pinhole(16, 16, 20, 8, 8)] * 2
    out = render(tensors(scene), cams, background=torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    assert out.rgb[0, 0, 0].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert out.rgb[1, 0, 0].tolist() == pytest.approx([0.0, 0.0, 1.0])
    a = out.alpha[0, 8, 8, 0].item()  # black splat over the background
    assert out.rgb[0, 8, 8].tolist() == pytest.approx([1 - a, 0.5 * (1 - a), 0.0])
    assert out.depth[0, 0, 0, 0].item() == 0.0


def test_errors_the_user_can_cause_are_clear():
    g = tensors(random_scene(5, degree=1))
    cam = [camera_looking_at((0, -3, 0), (0, 0, 0))]
    with pytest.raises(DeviceError, match="CUDA"):
        render(g, cam, backend="cuda")
    with pytest.raises(InputError, match="Unknown render backend"):
        render(g, cam, backend="gsplat")  # one naming: "auto", "cuda" or "cpu"
    with pytest.raises(InputError, match="degree 1"):
        render(g, cam, sh_degree=2)
    with pytest.raises(InputError, match="Features"):
        render(g, cam, features=torch.ones(4, 2))
    with pytest.raises(InputError, match="backend"):
        render(g, cam, backend="opengl")


# ---------------------------------------------------------------- gradients


def test_gradients_match_central_finite_differences():
    scene = random_scene(6, seed=4, degree=1, spread=0.25, scale=(0.1, 0.3), opacity=0.5)
    cam = camera_looking_at((0.2, -2.5, 0.3), (0, 0, 0), width=12, height=10, focal=12.0)
    g = tensors(scene)
    weights = torch.randn(1, 10, 12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    settings = RenderSettings(tile_size=8, step_budget=2 * 64)  # several tiles and chunks

    def loss(gt: GaussianTensors) -> torch.Tensor:
        out = render(gt, [cam], background=(0.1, 0.2, 0.3), settings=settings)
        return (torch.cat([out.rgb, out.alpha, 0.1 * out.depth], dim=-1) * weights).sum()

    loss(g).backward()
    checked = 0
    for name in FIELDS:
        p = getattr(g, name)
        flat = p.detach().reshape(-1)
        for i in range(flat.numel()):
            fd = _central_difference(g, name, i, loss)
            an = p.grad.reshape(-1)[i].item()
            assert an == pytest.approx(fd, rel=1e-4, abs=1e-6), (name, i)
            checked += 1
    assert checked == 6 * (3 + 4 + 3 + 1 + 12)


def test_gradient_descent_moves_a_gaussian_toward_its_target():
    cam = pinhole(24, 24, 30.0, 12, 12)
    target = render(tensors(single((0.15, -0.1, 3.0), 0.15, 0.9, _dc((1, 1, 1))), grad=False), [cam]).rgb
    g = tensors(single((0.0, 0.0, 3.0), 0.15, 0.5, _dc((1, 1, 1))))
    loss = ((render(g, [cam]).rgb - target) ** 2).sum()
    loss.backward()
    assert g.means.grad[0, 0] < 0 and g.means.grad[0, 1] > 0  # descent moves +x, -y
    assert g.opacity_logits.grad[0] < 0  # and makes it more opaque
    opt = torch.optim.Adam([{"params": [g.means], "lr": 0.01}, {"params": [g.opacity_logits], "lr": 0.1}])
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = ((render(g, [cam]).rgb - target) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert g.means[0, 0].item() == pytest.approx(0.15, abs=0.02)


def test_reference_matches_a_naive_dense_compositor_on_gsplat_projection():
    """Tiles, chunks, early stop and the hand-written backward against the plain formula."""
    impl = pytest.importorskip("gsplat.cuda._torch_impl")
    scene = random_scene(200, seed=5, degree=3, scale=(0.1, 0.4), opacity=5.0)
    cam = camera_looking_at((0.4, -3.0, 0.8), (0, 0.1, 0), width=40, height=28, focal=35.0)
    g = tensors(scene)
    bg = torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64)
    out = render(g, [cam], background=bg, settings=RenderSettings(step_budget=16 * 256))
    rgb, alpha, depth = _naive_render(impl, g, cam, bg)
    no_stop = _naive_render(impl, g, cam, bg, stop=False)[0]
    assert (rgb - no_stop).abs().max() > 1e-3, "the scene must exercise the early stop"
    torch.testing.assert_close(out.rgb[0], rgb)
    torch.testing.assert_close(out.alpha[0], alpha)
    torch.testing.assert_close(out.depth[0], depth)
    w = torch.randn(28, 40, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = [getattr(g, f) for f in FIELDS]
    ours = torch.autograd.grad((torch.cat([out.rgb[0], out.alpha[0], out.depth[0]], -1) * w).sum(), params)
    ref = torch.autograd.grad((torch.cat([rgb, alpha, depth], -1) * w).sum(), params)
    for name, a, b in zip(FIELDS, ours, ref):
        torch.testing.assert_close(a, b, msg=name)


# ---------------------------------------------------------------- helpers


def _dc(rgb) -> tuple:
    """The DC coefficient that gives this colour: (c - 0.5) / C0."""
    return tuple((c - 0.5) / SH_C0 for c in rgb)


def _central_difference(g: GaussianTensors, name: str, i: int, loss, h: float = 1e-6) -> float:
    vals = []
    for sign in (1, -1):
        moved = GaussianTensors(*(getattr(g, f).detach().clone() for f in FIELDS))
        getattr(moved, name).view(-1)[i] += sign * h
        with torch.no_grad():
            vals.append(loss(moved).item())
    return (vals[0] - vals[1]) / (2 * h)


def _naive_render(impl, g: GaussianTensors, cam: Camera, bg: torch.Tensor, stop: bool = True):
    """Every pixel against every Gaussian, with gsplat's pure-torch projection and SH."""
    H, W = cam.height, cam.width
    opac = torch.sigmoid(g.opacity_logits)
    cov, _ = impl._quat_scale_to_covar_preci(g.quats, torch.exp(g.log_scales), compute_preci=False, triu=False)
    vm, K = torch.tensor(cam.world_to_cam)[None], torch.tensor(cam.K)[None]
    radii, m2d, depth, conic, _ = impl._fully_fused_projection(g.means, cov, vm, K, W, H)
    color = torch.clamp_min(impl._spherical_harmonics(3, g.means - torch.tensor(cam.center), g.sh) + 0.5, 0)
    ids = torch.nonzero((radii[0] > 0).all(-1) & (opac >= 1 / 255)).squeeze(-1)
    ids = ids[torch.argsort(depth[0, ids])]
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    d = torch.stack([xs, ys], -1).reshape(-1, 1, 2).double() - m2d[0, ids][None]
    c = conic[0, ids]
    sigma = 0.5 * (c[:, 0] * d[..., 0] ** 2 + c[:, 2] * d[..., 1] ** 2) + c[:, 1] * d[..., 0] * d[..., 1]
    a = torch.clamp_max(opac[ids] * torch.exp(-sigma), 0.999)
    a = torch.where((a >= 1 / 255) & (sigma >= 0), a, 0.0)
    trans = torch.cumprod(torch.cat([torch.ones_like(a[:, :1]), 1 - a], 1), 1)
    w = a * trans[:, :-1] * ((trans[:, 1:] > 1e-4) | (not stop))
    acc = w.sum(1, keepdim=True)
    rgb = w @ color[ids] + (1 - acc) * bg
    dep = (w @ depth[0, ids][:, None]) / acc.clamp_min(1e-10)
    return rgb.reshape(H, W, 3), acc.reshape(H, W, 1), dep.reshape(H, W, 1)
