"""Model registry: local paths, hub ids, caches, messages, download progress."""

from __future__ import annotations

import json

import pytest

from gs_enhancer_addon.core import models
from gs_enhancer_addon.core.errors import ModelNotAvailableError
from gs_enhancer_addon.core.models import (
    ModelFiles, ModelSource, cached_snapshot, file_problem, fix_command, is_local_location, model_cache_dir,
    progress_tqdm_class, resolve_model, search_caches, standard_hub_cache,
)

FILES = ModelFiles("the test model", ("config.json", "sub/model.safetensors"))


def test_hub_ids_and_local_paths_are_told_apart(tmp_path):
    assert not is_local_location("stabilityai/stable-video-diffusion-img2vid-xt")
    assert not is_local_location("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    assert is_local_location(str(tmp_path))
    assert is_local_location("./models/svd") and is_local_location("/opt/svd") and is_local_location("C:\\svd")
    assert ModelSource("hf-hub:org/name").repo_id == "org/name"
    assert ModelSource(str(tmp_path)).repo_id is None
    assert ModelSource(str(tmp_path), subfolder="unet").local_path == tmp_path / "unet"


def write_model(folder, weights: bytes | None = None):
    from safetensors.torch import save_file
    import torch

    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"a": 1}))
    save_file({"w": torch.zeros(4)}, str(folder / "sub" / "model.safetensors"))
    if weights is not None:
        (folder / "sub" / "model.safetensors").write_bytes(weights)


def test_a_local_folder_is_checked_file_by_file(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="was not found"):
        resolve_model(ModelSource(str(tmp_path / "missing")), FILES)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelNotAvailableError, match=r"missing sub/model.safetensors\. Only these exact files"):
        resolve_model(ModelSource(str(tmp_path)), FILES)
    write_model(tmp_path)
    assert resolve_model(ModelSource(str(tmp_path)), FILES) == tmp_path


def test_damaged_files_are_named(tmp_path):
    write_model(tmp_path, weights=b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(ModelNotAvailableError, match=r"sub/model.safetensors is damaged \(.*header"):
        resolve_model(ModelSource(str(tmp_path)), FILES)
    write_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    assert file_problem(tmp_path / "config.json") and file_problem(tmp_path / "sub" / "model.safetensors") is None
    with pytest.raises(ModelNotAvailableError, match="config.json is damaged"):
        resolve_model(ModelSource(str(tmp_path)), FILES)


def test_offline_uncached_hub_repo_names_files_caches_and_the_hf_command(tmp_path):
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model(ModelSource("someone/not-cached", revision="v2"), FILES, cache_dir=tmp_path, offline=True)
    message = str(info.value)
    assert "someone/not-cached" in message and "offline" in message and str(tmp_path) in message
    assert "`hf download someone/not-cached --revision v2 --include config.json --include sub/model.safetensors`" \
        in message
    assert "huggingface-cli" not in message and "hf auth login" not in message


def test_gated_models_say_how_to_log_in():
    command = fix_command(ModelSource("org/gated"), ["a.json"], ModelFiles("x", ("a.json",), gated=True))
    assert "hf auth login" in command and "https://huggingface.co/org/gated" in command
    assert command.endswith("`hf download org/gated --include a.json`")


def test_environment_offline_flag_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.hub_offline()
    with pytest.raises(ModelNotAvailableError, match="offline mode is on"):
        resolve_model(ModelSource("someone/else"), FILES, cache_dir=tmp_path)


def test_caches_download_folder_then_the_standard_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "std"))
    assert standard_hub_cache() == tmp_path / "std"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert standard_hub_cache() == tmp_path / "home" / "hub"
    assert model_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "env"))
    assert model_cache_dir() == tmp_path / "env"
    assert model_cache_dir(tmp_path / "pref") == tmp_path / "pref"
    assert search_caches(tmp_path / "pref") == [tmp_path / "pref", tmp_path / "home" / "hub"]
    monkeypatch.delenv(models.CACHE_ENV)
    assert search_caches() == [tmp_path / "home" / "hub"]


def test_cached_snapshot_follows_refs_and_commits(tmp_path):
    storage = tmp_path / "models--org--name"
    (storage / "snapshots" / ("a" * 40)).mkdir(parents=True)
    assert cached_snapshot(tmp_path, "org/name") is None
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text("a" * 40)
    assert cached_snapshot(tmp_path, "org/name") == storage / "snapshots" / ("a" * 40)
    assert cached_snapshot(tmp_path, "org/name", "a" * 40) == storage / "snapshots" / ("a" * 40)
    assert cached_snapshot(tmp_path, "org/name", "b" * 40) is None


def test_download_progress_is_reported():
    seen = []
    bar = progress_tqdm_class(lambda f, m: seen.append((f, m)), "Downloading x")(total=200, unit="B")
    bar.update(50)
    bar.update(150)
    bar.close()
    assert [f for f, _ in seen] == [0.25, 1.0] and "Downloading x" in seen[0][1]


def test_no_message_or_document_names_the_removed_cli():
    from pathlib import Path

    root = Path(models.__file__).resolve().parents[2]
    texts = [p.read_text() for p in (root / "gs_enhancer_addon").rglob("*.py")] + [(root / "README.md").read_text()]
    assert not any("huggingface-cli" in text for text in texts)
