"""EnhanceJob: the stages run in order on the tiny models; inputs are checked first; cancel works."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import Cancelled, DeviceError, InputError, ModelNotAvailableError
from gs_enhancer_addon.core.job import STAGES, EnhanceJob
from gs_enhancer_addon.core.job_config import preset_config
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene
from tests.builders import assert_same_scene

SMALL = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=3, width=32, height=24)


@pytest.fixture(autouse=True)
def model_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path_factory.getbasetemp() / "models"))


def tiny_config(style: str = ""):
    config = preset_config("fast")
    config.trajectory.views_per_segment = 2
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=2)
    config.refine = dataclasses.replace(config.refine, iterations=4)
    config.stylize.text = style
    config.stylize.network.iterations = 3
    config.stylize.mutual.rounds = 1
    config.stylize.mutual.style_iterations = 2
    config.stylize.mutual.refine_iterations = 2
    config.stylize.losses.num_crops = 4
    return config


def test_all_stages_run_and_report_monotonic_progress():
    scene = sample_scene(SMALL)
    snapshot = {f: getattr(scene, f).copy() for f in ("means", "sh", "opacity_logits")}
    seen = []
    result = EnhanceJob(tiny_config()).run(scene, sample_cameras(SMALL), progress=lambda f, m: seen.append((f, m)))

    views = 3 + 2 * 2  # 3 references, 2 novel views in each of 2 segments
    assert result.before.shape == result.generated.shape == result.after.shape == (views, 24, 32, 3)
    assert set(result.stage_seconds) == {"check", "trajectory", "render", "enhance", "stylize", "refine", "package"}
    ref = result.trajectory.reference_indices
    assert np.array_equal(result.generated[ref], result.before[ref]), "references are kept as they are"
    novel = [i for i in range(views) if i not in ref]
    assert not np.allclose(result.generated[novel], result.before[novel]), "the enhancer changed the novel views"
    assert len(result.scene) == len(scene)
    for name, value in snapshot.items():
        assert np.array_equal(getattr(scene, name), value), "the input scene is never modified"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith(f"{len(STAGES)}/{len(STAGES)} Package") for _, m in seen)
    assert result.notes and "untrained" in result.notes[0]
    sheet = result.comparison_sheet(max_views=4)
    assert sheet.shape == (3 * 24, 4 * 32, 3)


def test_style_text_runs_stylization_and_changes_colors_only_there():
    """Fine-tuning off, so the result is what stylization made: a style text recolours the Gaussians
    (colours only: MutualConfig.colors_only) and the targets; no text leaves the splat as it was."""
    scene = sample_scene(SMALL)
    runs = {}
    for style in ("", "a watercolor painting"):
        config = tiny_config(style)
        config.refine = dataclasses.replace(config.refine, iterations=0)
        messages = []
        runs[style] = EnhanceJob(config).run(scene, sample_cameras(SMALL), progress=lambda f, m: messages.append(m)), messages
    (plain, plain_messages), (styled, styled_messages) = runs[""], runs["a watercolor painting"]

    assert any(m.startswith("5/7 Stylize: no style text: skipped") for m in plain_messages)  # (ETA ...) may follow
    assert not any("Stylization round" in m for m in plain_messages)
    assert any(m.startswith("5/7 Stylize: Stylization round") for m in styled_messages), "stylization ran"
    assert_same_scene(plain.scene, scene)
    for name in ("means", "quats", "log_scales", "opacity_logits"):
        assert np.array_equal(getattr(styled.scene, name), getattr(scene, name)), f"stylization kept {name}"
    assert not np.allclose(styled.scene.sh, scene.sh, atol=1e-3), "stylization recoloured the Gaussians"
    assert np.isfinite(styled.scene.sh).all()
    novel = [i for i in range(len(styled.generated)) if i not in styled.trajectory.reference_indices]
    assert not np.allclose(styled.generated[novel], plain.generated[novel], atol=1e-3), "and restyled the targets"


@pytest.mark.parametrize("case, error, match", [
    ("empty", InputError, "No splat"),
    ("one camera", InputError, "at least 2"),
    ("cuda", DeviceError, "CUDA was requested"),
    ("no cpu", DeviceError, "CPU runs are turned off"),
    ("model offline", ModelNotAvailableError, "not found"),
])
def test_check_inputs_fails_fast_in_words(case, error, match, monkeypatch):
    import torch

    if torch.cuda.is_available() and case in ("cuda", "no cpu"):
        pytest.skip("a CUDA GPU is present")
    from gs_enhancer_addon.core.enhance.components import EnhancerSources
    from gs_enhancer_addon.core.model_set import ModelsConfig
    from gs_enhancer_addon.core.models import ModelSource

    config, scene, cameras = tiny_config(), sample_scene(SMALL), sample_cameras(SMALL)
    if case == "empty":
        scene = scene.subset(np.zeros(len(scene), dtype=bool))
    elif case == "one camera":
        cameras = cameras[:1]
    elif case == "cuda":
        config.device = "cuda"
    elif case == "no cpu":
        config.allow_cpu = False
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        config.models = ModelsConfig(tiny=False, enhancer=EnhancerSources(base=ModelSource("/nonexistent/svd")))
    stages = []
    with pytest.raises(error, match=match):
        EnhanceJob(config).run(scene, cameras, progress=lambda f, m: stages.append(m))
    assert all(m.startswith("1/") for m in stages), "nothing ran past the input check"


def test_cancel_in_the_diffusion_stage_raises_and_stops_within_one_step():
    """Cancel asked after the first diffusion step: Cancelled, at most one more step, no later stage,
    the input untouched."""
    scene = sample_scene(SMALL)
    snapshot = scene.copy()
    messages, asked_at = [], []

    def cancel() -> bool:
        if not asked_at and any("Step" in m for m in messages):
            asked_at.append(len(messages))
        return bool(asked_at)

    with pytest.raises(Cancelled):
        EnhanceJob(tiny_config()).run(scene, sample_cameras(SMALL), progress=lambda f, m: messages.append(m),
                                      cancel=cancel)
    after_request = messages[asked_at[0]:]
    assert sum("Step" in m for m in after_request) <= 1, after_request
    assert not any(m.startswith(("5/", "6/", "7/")) for m in messages), "no later stage started"
    assert_same_scene(scene, snapshot)


def test_reference_photo_replaces_the_render(tmp_path):
    from gs_enhancer_addon.core.image_io import save_png

    cameras = sample_cameras(SMALL)
    photo = np.zeros((24, 32, 3), dtype=np.float32)
    photo[..., 0] = 1.0  # pure red
    save_png(photo, tmp_path / "ref.png")
    cameras[0] = dataclasses.replace(cameras[0], image_path=str(tmp_path / "ref.png"))
    result = EnhanceJob(tiny_config()).run(sample_scene(SMALL), cameras)
    first_ref = result.trajectory.reference_indices[0]
    assert np.allclose(result.generated[first_ref], photo, atol=1 / 255)
    assert not np.allclose(result.before[first_ref], photo, atol=0.1)


def test_offline_check_covers_the_default_clip(monkeypatch):
    """With a style, an offline job also needs CLIP: the default open_clip name + tag is checked too."""
    from gs_enhancer_addon.core.enhance.components import EnhancerSources, ensure_tiny_enhancer
    from gs_enhancer_addon.core.model_set import ModelsConfig
    from gs_enhancer_addon.core.models import ModelSource, model_cache_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enhancer = ensure_tiny_enhancer(model_cache_dir() / "tiny")  # a real, present enhancer folder
    models = ModelsConfig(tiny=False, enhancer=EnhancerSources(base=ModelSource(str(enhancer)), variant=None))
    config = tiny_config("a watercolor painting")
    config.models = models
    models.check_available()  # no style: the enhancer alone is enough
    EnhanceJob(dataclasses.replace(config, stylize=dataclasses.replace(config.stylize, text=""))).check_inputs(
        sample_scene(SMALL), sample_cameras(SMALL), "references")
    with pytest.raises(ModelNotAvailableError):
        EnhanceJob(config).check_inputs(sample_scene(SMALL), sample_cameras(SMALL), "references")
