"""Model registry: local paths, hub ids, offline errors, download progress."""

from __future__ import annotations

import pytest

from gs_enhancer_addon.core import models
from gs_enhancer_addon.core.errors import ModelNotAvailableError
from gs_enhancer_addon.core.models import (
    ModelSource, is_local_location, model_cache_dir, progress_tqdm_class, require_files, resolve_model_source,
    safetensors_file_in, set_model_cache_dir,
)


def test_hub_ids_and_local_paths_are_told_apart(tmp_path):
    assert not is_local_location("stabilityai/stable-video-diffusion-img2vid-xt")
    assert not is_local_location("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    assert is_local_location(str(tmp_path))
    assert is_local_location("./models/svd") and is_local_location("/opt/svd") and is_local_location("C:\\svd")
    assert ModelSource("hf-hub:org/name").repo_id == "org/name"
    assert ModelSource(str(tmp_path)).repo_id is None


def test_local_folder_resolves_with_subfolder(tmp_path):
    (tmp_path / "unet").mkdir()
    assert resolve_model_source(ModelSource(str(tmp_path), subfolder="unet")) == tmp_path / "unet"
    with pytest.raises(ModelNotAvailableError, match="not found"):
        resolve_model_source(ModelSource(str(tmp_path / "missing")))


def test_offline_uncached_hub_repo_gives_a_clear_error(tmp_path):
    set_model_cache_dir(tmp_path)
    try:
        with pytest.raises(ModelNotAvailableError) as info:
            resolve_model_source(ModelSource("someone/not-cached-model"), offline=True)
    finally:
        set_model_cache_dir(None)
    message = str(info.value)
    assert "someone/not-cached-model" in message and "offline" in message and "download" in message


def test_environment_offline_flag_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.hub_offline()
    set_model_cache_dir(tmp_path)
    try:
        with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE"):
            resolve_model_source(ModelSource("someone/else"))
    finally:
        set_model_cache_dir(None)


def test_cache_dir_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "env"))
    assert model_cache_dir() == tmp_path / "env"
    set_model_cache_dir(tmp_path / "pref")
    try:
        assert model_cache_dir() == tmp_path / "pref"
    finally:
        set_model_cache_dir(None)


def test_download_progress_is_reported():
    seen = []
    bar = progress_tqdm_class(lambda f, m: seen.append((f, m)), "Downloading x")(total=200, unit="B")
    bar.update(50)
    bar.update(150)
    bar.close()
    assert [f for f, _ in seen] == [0.25, 1.0] and "Downloading x" in seen[0][1]


def test_require_files_names_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotAvailableError, match=r"\*\.safetensors"):
        require_files(tmp_path, ["config.json", "*.safetensors"], "The UNet")
    (tmp_path / "model.safetensors").write_bytes(b"")
    require_files(tmp_path, ["config.json", "*.safetensors"], "The UNet")


def test_safetensors_file_in_prefers_the_named_file_else_the_first_by_name(tmp_path):
    with pytest.raises(ModelNotAvailableError, match=r"The CLIP folder in .* missing \*\.safetensors"):
        safetensors_file_in(tmp_path, "The CLIP folder", preferred="open_clip_model.safetensors")
    (tmp_path / "b.safetensors").write_bytes(b"")
    (tmp_path / "a.safetensors").write_bytes(b"")
    (tmp_path / "weights.bin").write_bytes(b"")
    assert safetensors_file_in(tmp_path, "x") == tmp_path / "a.safetensors"
    assert safetensors_file_in(tmp_path, "x", preferred="missing.safetensors") == tmp_path / "a.safetensors"
    (tmp_path / "open_clip_model.safetensors").write_bytes(b"")
    assert safetensors_file_in(tmp_path, "x", preferred="open_clip_model.safetensors") == (
        tmp_path / "open_clip_model.safetensors")
