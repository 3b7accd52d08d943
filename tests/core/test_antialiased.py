"""A splat trained with Mip-Splatting's 2D filter (an SPZ file's antialiased flag) is rendered and
fine-tuned that way by the job, and keeps its flag through every GaussianScene operation."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.job import EnhanceJob
from gs_enhancer_addon.core.job_config import preset_config
from gs_enhancer_addon.core.render import RenderSettings
from gs_enhancer_addon.core.render.views import render_views_numpy
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene

SMALL = SampleConfig(sphere_gaussians=150, ground_gaussians=50, reference_cameras=3, width=32, height=24)


def test_the_job_renders_and_fits_an_antialiased_splat_antialiased(tmp_path, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path / "models"))
    scene = dataclasses.replace(sample_scene(SMALL), antialiased=True)
    config = preset_config("fast", refine_iterations=2, views_per_segment=1, device="cpu")
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=1)
    result = EnhanceJob(config).run(scene, sample_cameras(SMALL))
    cameras, cpu = result.trajectory.cameras, torch.device("cpu")
    antialiased = render_views_numpy(scene, cameras, cpu, settings=RenderSettings(antialiased=True))
    classic = render_views_numpy(scene, cameras, cpu)
    assert np.array_equal(result.before, antialiased) and not np.allclose(result.before, classic)
    assert result.scene.antialiased, "the fine-tuned splat is still an antialiased one"


def test_every_scene_operation_keeps_the_flag():
    scene = dataclasses.replace(sample_scene(SMALL), antialiased=True)
    move = np.eye(4)
    move[:3, 3] = (1.0, 2.0, 3.0)
    for derived in (scene.copy(), scene.subset(np.arange(10)), scene.with_sh_degree(1), scene.transformed(move),
                    GaussianScene.concat([scene, scene])):
        assert derived.antialiased
    assert not GaussianScene.concat([scene, sample_scene(SMALL)]).antialiased, "mixed: not all antialiased"
