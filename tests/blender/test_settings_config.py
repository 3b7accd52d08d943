"""Sidebar settings + preferences -> JobConfig: the one conversion the operator relies on."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy")  # no needs_torch mark: the conversion is torch-free, the bpy 4.2 leg runs it too


def test_presets_overrides_and_style(addon_registered):
    from gs_enhancer_addon.blender.props import job_config
    from gs_enhancer_addon.core.job_config import PRESET_REFINE_ITERATIONS, PRESET_STEPS

    settings = bpy.context.scene.gs_enhancer
    settings.preset = "BEST"
    assert settings.views_per_segment == 23, "the preset sets the views per segment"
    settings.style_prompt = "  a watercolor painting "
    settings.device = "CPU"
    config = job_config(settings, None)
    assert config.enhance.num_inference_steps == PRESET_STEPS["best"]
    assert config.refine.iterations == PRESET_REFINE_ITERATIONS["best"]
    assert config.trajectory.views_per_segment == 23
    assert config.stylize.text == "a watercolor painting" and config.stylize.enabled
    assert config.device == "cpu" and config.models.tiny, "no preferences (not enabled): the tiny set"

    settings.preset = "FAST"
    settings.views_per_segment = 4
    settings.steps, settings.refine_iterations = 7, 33
    settings.style_prompt = ""
    config = job_config(settings, None)
    assert (config.enhance.num_inference_steps, config.refine.iterations) == (7, 33)
    assert config.trajectory.views_per_segment == 4 and not config.stylize.enabled
    assert (config.enhancer, config.stylizer) == ("svd", "clipstyler"), "no preferences: the built-in backends"


def test_the_ui_keeps_models_loaded_and_background_runs_release_them(addon_registered):
    from gs_enhancer_addon.blender.enhance_flow import request_cache
    from gs_enhancer_addon.blender.runner import MODEL_CACHE

    assert request_cache(in_background=False) is MODEL_CACHE, "in the UI the models stay until Release Models"
    assert request_cache(in_background=True) is None, "background runs release their models"


def test_preferences_map_to_model_sources(addon_registered, tmp_path):
    from types import SimpleNamespace

    from gs_enhancer_addon.blender.preferences import models_config

    prefs = SimpleNamespace(model_set="PRETRAINED", enhancer_source="org/svd", unet_source=str(tmp_path),
                            decoder_source="", clip_model="ViT-B-32", clip_pretrained="laion2b_s34b_b79k",
                            vgg_source="timm/vgg19.tv_in1k", hub_token="secret", cache_dir=str(tmp_path / "cache"))
    models = models_config(prefs)
    assert models.cache_dir == tmp_path / "cache"  # a field of the config, no process-wide setting
    assert not models.tiny
    assert models.enhancer.base.location == "org/svd" and models.enhancer.base.token == "secret"
    assert models.enhancer.unet.location.rstrip("/") == str(tmp_path) and models.enhancer.decoder is None
    assert (models.clip.model_name, models.clip.pretrained) == ("ViT-B-32", "laion2b_s34b_b79k")
    tiny = models_config(SimpleNamespace(model_set="TINY", cache_dir=str(tmp_path / "cache")))
    assert tiny.tiny and tiny.cache_dir == tmp_path / "cache"


def test_preference_defaults_are_the_core_defaults(addon_registered):
    from gs_enhancer_addon.blender.preferences import GSE_AP_preferences
    from gs_enhancer_addon.core.enhance.config import EnhancerSources
    from gs_enhancer_addon.core.stylize.config import ClipSpec, VggSpec

    default = lambda name: GSE_AP_preferences.bl_rna.properties[name].default  # noqa: E731 - as registered
    assert default("enhancer_source") == EnhancerSources().base.location
    assert (default("clip_model"), default("clip_pretrained")) == (ClipSpec().model_name, ClipSpec().pretrained)
    assert default("vgg_source") == VggSpec().source


@pytest.mark.needs_torch  # builds the tiny models
def test_check_models_says_where_each_model_is(addon_registered, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from gs_enhancer_addon.blender.preferences import cache_lines, check_models
    from gs_enhancer_addon.core.enhance.components import ensure_tiny_enhancer
    from gs_enhancer_addon.core.stylize.backend import ensure_tiny_style_models

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "standard"))
    clip_dir, vgg_file = ensure_tiny_style_models(tmp_path / "tiny")
    prefs = SimpleNamespace(model_set="PRETRAINED", enhancer_source=str(ensure_tiny_enhancer(tmp_path / "tiny")),
                            unet_source="", decoder_source="", clip_model=str(clip_dir), clip_pretrained="",
                            vgg_source=str(vgg_file), hub_token="", cache_dir=str(tmp_path / "own"))
    lines = check_models(prefs)
    assert [line.split(": ")[1].split(" ")[:2] for line in lines] == [["local", "folder"]] * 2 + [["local", "file"]]
    assert cache_lines(prefs) == [f"Downloads go to: {tmp_path / 'own'}",
                                  f"Also searched for models already there: {tmp_path / 'standard'}"]
    hub = SimpleNamespace(**{**vars(prefs), "enhancer_source": "stabilityai/stable-video-diffusion-img2vid-xt",
                             "clip_model": "ViT-B-32", "clip_pretrained": "laion2b_s34b_b79k",
                             "vgg_source": "timm/vgg19.tv_in1k"})
    assert all(": not found (missing " in line for line in check_models(hub))
