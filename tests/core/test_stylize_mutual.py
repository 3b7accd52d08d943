"""2D-3D mutual learning and the warp-based consistency measure, on a tiny scene with the real
CPU renderer and refinement, tiny seeded CLIP and VGG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.errors import Cancelled
from gs_enhancer_addon.core.refine import RefineConfig
from gs_enhancer_addon.core.render import render
from gs_enhancer_addon.core.stylize.config import MutualConfig, StyleLossConfig, StyleNetConfig, StylizeConfig
from gs_enhancer_addon.core.stylize.consistency import masked_rmse, warp_into
from gs_enhancer_addon.core.stylize.dummy import arc_cameras, tiny_components, tiny_scene
from gs_enhancer_addon.core.render.views import render_views_numpy
from gs_enhancer_addon.core.stylize.mutual import stylize_scene



@pytest.fixture(scope="module")
def setup():
    clip, vgg = tiny_components(seed=0)
    scene, cameras = tiny_scene(120, seed=0), arc_cameras(3, size=16, span_deg=30)
    images = list(render_views_numpy(scene, cameras, torch.device("cpu")))
    return clip, vgg, scene, cameras, images


def _config(text="a watercolor painting", rounds=2, colors_only=True):
    return StylizeConfig(
        text=text,
        losses=StyleLossConfig(num_crops=4, crop_size=12),
        network=StyleNetConfig(base_channels=4, iterations=6, lr=5e-3, views_per_iteration=3),
        mutual=MutualConfig(rounds=rounds, style_iterations=4, refine_iterations=10, colors_only=colors_only),
    )


FIT = RefineConfig(pixel_confidence=False, views_per_step=3)


def test_mutual_rounds_lower_the_total_loss_and_keep_geometry_in_colors_only_mode(setup):
    clip, vgg, scene, cameras, images = setup
    result = stylize_scene(scene, cameras, images, _config(), clip, vgg, FIT, evaluate=True)
    totals = [r["total"] for r in result.rounds]
    assert len(totals) == 3 and totals[-1] < totals[0]
    for name in ("means", "quats", "log_scales", "opacity_logits"):
        assert np.array_equal(getattr(result.scene, name), getattr(scene, name)), name
    assert not np.allclose(result.scene.sh, scene.sh)  # the colours did change
    assert len(result.per_frame_2d) == 3 and result.per_frame_2d[0].shape == (16, 16, 3)


def test_empty_style_text_skips_stylization(setup):
    clip, vgg, scene, cameras, images = setup
    result = stylize_scene(scene, cameras, images, _config(text="   "), clip, vgg, FIT)
    assert result.scene is scene and result.rounds == [] and result.per_frame_2d == []


def test_cancel_during_mutual_learning_stops_at_the_next_iteration(setup):
    clip, vgg, scene, cameras, images = setup
    messages = []
    with pytest.raises(Cancelled):
        stylize_scene(scene, cameras, images, _config(rounds=1), clip, vgg, FIT,
                      progress=lambda f, m: messages.append(m), cancel=lambda: len(messages) >= 3)
    assert len(messages) == 3


def test_warping_a_static_scene_between_views_matches_the_neighbour_render():
    scene, cameras = tiny_scene(300, seed=1), arc_cameras(3, size=24, span_deg=20)
    out = render(scene.to_torch(), cameras)
    rgb, depth, alpha = out.rgb, out.depth[..., 0], out.alpha[..., 0]
    warped, mask = warp_into(rgb[1], depth[1], cameras[1], depth[0], alpha[0], cameras[0])
    assert mask.float().mean() > 0.3
    warped_error = masked_rmse(warped, rgb[0], mask)
    unwarped_error = masked_rmse(rgb[1], rgb[0], mask)
    assert warped_error < 0.5 * unwarped_error
    same, same_mask = warp_into(rgb[0], depth[0], cameras[0], depth[0], alpha[0], cameras[0])
    assert masked_rmse(same, rgb[0], same_mask) < 1e-4  # identity warp
