"""The small model set trained on synthetic scenes (issue 20): its manifest, its files, and that it
really enhances the demo's held-out scene (a check untrained weights fail)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import InputError
from gs_enhancer_addon.core.job_config import preset_config
from gs_enhancer_addon.core.model_set import SMALL_SET_DIR, ModelsConfig
from gs_enhancer_addon.core.sample import HELDOUT_SAMPLE_DIR, heldout_sample


def _set_folder(tmp_path: Path, manifest: dict) -> Path:
    (tmp_path / "enhancer").mkdir()
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    return tmp_path


def test_a_sets_manifest_recommends_settings_that_replace_the_presets_but_not_the_users(tmp_path):
    folder = _set_folder(tmp_path, {"recommended": {"num_inference_steps": 3, "max_guidance_scale": 1.5},
                                    "note": "trained on toys"})
    models = ModelsConfig.from_folder(folder)
    assert models.notes() == ["trained on toys"]
    config = preset_config("best", models=models)
    assert (config.enhance.num_inference_steps, config.enhance.max_guidance_scale) == (3, 1.5)
    config = preset_config("best", steps=7, models=models)
    assert (config.enhance.num_inference_steps, config.enhance.max_guidance_scale) == (7, 1.5)
    assert preset_config("best").enhance.num_inference_steps == 50  # no manifest: the preset


def test_a_manifest_with_unknown_settings_is_refused_in_words(tmp_path):
    folder = _set_folder(tmp_path, {"recommended": {"num_inference_step": 3}})
    with pytest.raises(InputError, match="unknown enhancer settings.*num_inference_step"):
        ModelsConfig.from_folder(folder)
    (folder / "MANIFEST.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot be read"):
        ModelsConfig.from_folder(folder)


def test_the_shipped_set_matches_its_manifest():
    manifest = json.loads((SMALL_SET_DIR / "MANIFEST.json").read_text())
    files = {str(p.relative_to(SMALL_SET_DIR)) for p in SMALL_SET_DIR.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    assert files == set(manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((SMALL_SET_DIR / name).read_bytes()).hexdigest() == digest, name
    assert sum((SMALL_SET_DIR / name).stat().st_size for name in files) < 16 * 2**20  # "a few MB"
    assert manifest["recommended"]["num_inference_steps"] >= 1 and "commands" in manifest


def test_the_held_out_sample_is_a_capture_with_its_low_view_splat():
    sample = heldout_sample()
    assert len(sample.cameras) == 48 and len(sample.references) == 3 and len(sample.heldout) == 45
    assert all(Path(c.image_path).is_file() for c in sample.cameras)
    assert len(sample.scene) > 0 and np.isfinite(sample.scene.means).all()
    with pytest.raises(InputError, match="sample scene is missing"):
        heldout_sample(HELDOUT_SAMPLE_DIR.parent / "nowhere")


@pytest.mark.needs_torch
def test_the_small_set_enhances_a_window_of_the_held_out_scene():
    """Its enhanced frames are closer to the photos than the low-view renders were; the same
    architecture with its initial (untrained) weights is not."""
    import torch

    from gs_enhancer_addon.core.enhance.components import load_enhancer, small_components
    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline
    from gs_enhancer_addon.core.image_io import load_image
    from gs_enhancer_addon.core.image_metrics import mean_psnr
    from gs_enhancer_addon.core.render.views import render_views_numpy

    models = ModelsConfig.small()
    config = preset_config("fast", models=models, device="cpu").enhance
    sample = heldout_sample()
    a, b = sample.references[:2]
    cams = sample.cameras[a:b + 1]
    photos = np.stack([load_image(c.image_path, c.width, c.height) for c in cams])
    renders = render_views_numpy(sample.scene, cams, torch.device("cpu"))
    window = torch.from_numpy(np.concatenate([photos[:1], renders[1:-1], photos[-1:]])).permute(0, 3, 1, 2)
    trained = load_enhancer(models.enhancer, precision="float32", offline=True)
    untrained = EnhancerPipeline(**small_components(seed=0))
    results = {}
    for name, pipe in (("trained", trained), ("untrained", untrained)):
        out = pipe(window, config, cameras=cams).permute(0, 2, 3, 1).numpy()
        results[name] = mean_psnr(out[1:-1], photos[1:-1])
    before = mean_psnr(renders[1:-1], photos[1:-1])
    assert results["trained"] > before + 1.0 > results["untrained"] + 1.0, (before, results)
