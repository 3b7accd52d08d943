"""Broken model files (class 4) and device failures in every stage (class 9), through the command line."""

from __future__ import annotations

import shutil

import pytest
import torch

from .conftest import QUICK, assert_unchanged, digest, run_cli

@pytest.fixture(scope="module")
def tiny_enhancer_folder(tmp_path_factory):
    from gs_enhancer_addon.core.enhance.components import ensure_tiny_enhancer

    return ensure_tiny_enhancer(tmp_path_factory.mktemp("tiny-enhancer"))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage_header(path):
    data = bytearray(path.read_bytes())
    data[8:40] = b"\xff" * 32
    path.write_bytes(bytes(data))


BROKEN = {
    "unet-truncated": ("unet/diffusion_pytorch_model.safetensors", _truncate),
    "unet-empty": ("unet/diffusion_pytorch_model.safetensors", lambda p: p.write_bytes(b"")),
    "unet-garbage-header": ("unet/diffusion_pytorch_model.safetensors", _garbage_header),
    "image-encoder-truncated": ("image_encoder/model.safetensors", _truncate),
    "unet-config-not-json": ("unet/config.json", lambda p: p.write_text("{ not json")),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_model_file_is_named_with_what_to_do(inputs, capsys, tiny_enhancer_folder, tmp_path, name):
    relative, damage = BROKEN[name]
    models = tmp_path / "models"
    shutil.copytree(tiny_enhancer_folder, models)
    damage(models / relative)
    before = digest(inputs)
    outcome = run_cli(capsys, "enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out",
                      inputs / "out.ply", "--models", models, *QUICK)
    outcome.assert_clean_error(relative.split("/")[-1])
    assert "Unexpected error" not in outcome.err
    assert_unchanged(inputs, before)


def test_the_missing_model_message_names_the_hf_command(inputs, capsys):
    outcome = run_cli(capsys, "enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out",
                      inputs / "out.ply", "--models", "hub", *QUICK)
    line = outcome.assert_clean_error("hf download")
    assert "huggingface-cli" not in line


# ------------------------------------------------------------------ out of memory in every stage
def _oom(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def _plain_oom(*args, **kwargs):
    raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (an extension's own error)")


STAGE_FAILURES = {
    "render": ("gs_enhancer_addon.core.render.views.render_views_numpy", _oom, "render", ""),
    "enhance": ("gs_enhancer_addon.core.enhance.backend.SvdEnhancer.enhance", _oom, "enhance", ""),
    "stylize": ("gs_enhancer_addon.core.stylize.backend.ClipStyler.stylize", _oom, "stylize", "a watercolor"),
    "refine": ("gs_enhancer_addon.core.refine.refine", _oom, "refine", ""),
    "refine-plain-runtime-error": ("gs_enhancer_addon.core.refine.refine", _plain_oom, "refine", ""),
}


@pytest.mark.parametrize("name", list(STAGE_FAILURES))
def test_out_of_memory_in_any_stage_says_what_to_lower(inputs, capsys, monkeypatch, name):
    target, failure, stage, style = STAGE_FAILURES[name]
    monkeypatch.setattr(target, failure)
    before = digest(inputs)
    outcome = run_cli(capsys, "enhance", inputs / "in.ply", "--cameras", inputs / "cams.json", "--out",
                      inputs / "out.ply", "--style", style, *QUICK)
    line = outcome.assert_clean_error(f"ran out of memory during the {stage} stage", "lower")
    assert "OutOfMemoryError" not in line
    assert_unchanged(inputs, before)
