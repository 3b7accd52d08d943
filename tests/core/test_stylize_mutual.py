"""2D-3D mutual learning on a tiny scene with the real CPU renderer and refinement, tiny seeded CLIP
and VGG. (The warp-based consistency measure is tested in test_bench_consistency.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.errors import Cancelled
from gs_enhancer_addon.core.refine import RefineConfig
from gs_enhancer_addon.core.stylize.config import MutualConfig, StyleLossConfig, StyleNetConfig, StylizeConfig
from gs_enhancer_addon.core.render.views import render_views_chw, render_views_numpy
from gs_enhancer_addon.core.stylize.mutual import _evaluate, stylize_scene
from gs_enhancer_addon.core.stylize.trainer import StyleTrainer
from tests.builders import arc_cameras, assert_same_scene, checker_blob, tiny_style_models


@pytest.fixture(scope="module")
def setup():
    clip, vgg = tiny_style_models(seed=0)
    scene, cameras = checker_blob(120, seed=0), arc_cameras(3, size=16, span_deg=30)
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


def test_cancel_during_mutual_learning_raises_within_one_iteration(setup):
    clip, vgg, scene, cameras, images = setup
    snapshot = scene.copy()
    messages = []
    with pytest.raises(Cancelled):
        stylize_scene(scene, cameras, images, _config(rounds=1), clip, vgg, FIT,
                      progress=lambda f, m: messages.append(m), cancel=lambda: len(messages) >= 3)
    assert 3 <= len(messages) <= 4, "asked to stop after the third report: at most one more step ran"
    assert not any("Stylization round" in m for m in messages), "no round finished"
    assert_same_scene(scene, snapshot)


def test_evaluating_a_round_leaves_the_trainer_as_it_was(setup):
    """Scoring reads the trainer: its crop generator (training's random stream) is neither replaced
    nor advanced, also when scoring fails, and the score is reproducible."""
    clip, vgg, scene, cameras, images = setup
    views = [torch.as_tensor(im).permute(2, 0, 1) for im in images]
    trainer = StyleTrainer(clip, vgg, "a watercolor painting", views, _config().losses, _config().network)
    generator, state = trainer.generator, trainer.generator.get_state()
    renders = render_views_chw(scene, cameras, torch.device("cpu"))
    first, second = _evaluate(trainer, renders, 10.0), _evaluate(trainer, renders, 10.0)
    assert first == second and first["mimic"] > 0
    with pytest.raises(RuntimeError):
        _evaluate(trainer, [r[:, :4] for r in renders], 10.0)  # wrong-size renders: the mimic term fails
    assert trainer.generator is generator and torch.equal(trainer.generator.get_state(), state)
