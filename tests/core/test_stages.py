"""The stage seams: a second enhancer backend plugs in through the registry and runs through the
job untouched; every stage gets the job's device; the registry names what it knows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.backends import ENHANCERS, STYLIZERS
from gs_enhancer_addon.core.errors import InputError, ModelNotAvailableError
from gs_enhancer_addon.core.job import EnhanceJob
from gs_enhancer_addon.core.job_config import preset_config
from gs_enhancer_addon.core.model_cache import ModelCache, ModelKey
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene
from gs_enhancer_addon.core.stages import BackendInfo, StageContext

SMALL = SampleConfig(sphere_gaussians=150, ground_gaussians=50, reference_cameras=3, width=32, height=24)


@pytest.fixture(autouse=True)
def model_cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path_factory.getbasetemp() / "models"))


class InvertingEnhancer:
    """A toy second backend: 'restores' each novel view by inverting it, and loads a 'model' (a
    tensor) through the job's cache, to show the seams: registry, context, cache, notes."""

    calls: list = []

    def __init__(self, config):
        self.available = config.models.tiny

    def check_available(self) -> None:
        if not self.available:
            raise ModelNotAvailableError("the toy model is missing")

    def notes(self) -> list[str]:
        return ["toy backend"]

    def enhance(self, scene, frames, trajectory, ctx: StageContext) -> np.ndarray:
        one = ctx.cache.get(ModelKey("toy", "ones", str(ctx.device), "float32"), lambda: torch.ones(1, device=ctx.device))
        InvertingEnhancer.calls.append((ctx.device, len(frames), ctx.cache))
        out = frames.copy()
        novel = ~trajectory.is_reference
        out[novel] = one.item() - frames[novel]
        ctx.progress(1.0, "inverted")
        return out


@pytest.fixture
def toy_backend():
    ENHANCERS.register(BackendInfo("toy", "Toy Inverter", "Inverts the novel views (tests)", InvertingEnhancer))
    InvertingEnhancer.calls = []
    yield
    ENHANCERS.unregister("toy")


def small_config(**overrides):
    config = preset_config("fast", refine_iterations=3, views_per_segment=2, **overrides)
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=2)
    return config


def test_a_registered_backend_runs_through_the_job(toy_backend):
    cache = ModelCache()
    result = EnhanceJob(small_config(enhancer="toy", device="cpu"), cache).run(sample_scene(SMALL), sample_cameras(SMALL))
    novel = ~result.trajectory.is_reference
    assert np.allclose(result.generated[novel], 1.0 - result.before[novel])
    assert np.array_equal(result.generated[~novel], result.before[~novel])
    assert InvertingEnhancer.calls == [(torch.device("cpu"), len(result.before), cache)]
    assert result.notes == ["toy backend"]
    assert cache.keys() == [ModelKey("toy", "ones", "cpu", "float32")], "the caller's cache keeps the model"


def test_a_backend_that_is_not_available_stops_before_any_work(toy_backend):
    from gs_enhancer_addon.core.model_set import ModelsConfig

    seen = []
    config = small_config(enhancer="toy", models=ModelsConfig(tiny=False))
    with pytest.raises(ModelNotAvailableError, match="toy model"):
        EnhanceJob(config).run(sample_scene(SMALL), sample_cameras(SMALL), progress=lambda f, m: seen.append(m))
    assert seen and all(m.startswith("1/") for m in seen)
    assert InvertingEnhancer.calls == []


def test_unknown_backends_are_named_with_the_known_ones():
    with pytest.raises(InputError, match=r"Unknown enhancer 'nope'; available: svd"):
        EnhanceJob(small_config(enhancer="nope"))
    with pytest.raises(ValueError, match="already registered"):
        STYLIZERS.register(STYLIZERS.get("clipstyler"))


def test_a_cpu_job_fits_on_the_cpu_even_when_cuda_is_there(monkeypatch):
    """Every stage gets the job's device: no stage picks "auto" on its own. With CUDA reported
    present (but unusable here), a CPU job with a style must run through stylization and
    refinement without touching CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    config = small_config(device="cpu", style="a watercolor painting")
    config.stylize.network.iterations = 2
    config.stylize.mutual.rounds = 1
    config.stylize.mutual.style_iterations = 1
    config.stylize.mutual.refine_iterations = 2
    config.stylize.losses.num_crops = 2
    result = EnhanceJob(config).run(sample_scene(SMALL), sample_cameras(SMALL))
    assert np.isfinite(result.scene.sh).all() and result.stage_seconds["stylize"] > 0


def test_offload_keeps_the_enhancer_weights_on_the_cpu():
    """offload="model": the loader leaves every weight on the CPU (the pipeline moves one
    component at a time to the GPU while it is used), so nothing is loaded onto the GPU first."""
    from gs_enhancer_addon.core.enhance.backend import SvdEnhancer

    config = small_config()
    config.enhance = dataclasses.replace(config.enhance, offload="model", precision="float32")
    cuda = torch.device("cuda")  # not usable on this machine: any .to(cuda) would fail
    pipeline = SvdEnhancer(config).load(StageContext([cuda], ModelCache()))
    devices = {p.device.type for m in (pipeline.unet, pipeline.decoder, pipeline.image_encoder) for p in m.parameters()}
    assert devices == {"cpu"}
