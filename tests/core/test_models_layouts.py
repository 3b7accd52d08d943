"""Model loading as users meet it: the default repos' real layouts in real Hugging Face caches.

Each test builds the cache a user would have (tests/core/model_layouts.py: real file names,
variants, blobs, snapshots, refs/main, with and without huggingface_hub's trees/ listing), with
tiny weights of the project's tiny configs, and drives the real loaders offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gs_enhancer_addon.core.enhance.components import EnhancerSources, enhancer_files, load_enhancer
from gs_enhancer_addon.core.errors import ModelNotAvailableError
from gs_enhancer_addon.core.model_cache import ModelCache
from gs_enhancer_addon.core.model_set import ModelsConfig
from gs_enhancer_addon.core.models import ModelSource, locate_model
from gs_enhancer_addon.core.stylize.clip_model import CLIP_FILES, load_clip
from gs_enhancer_addon.core.stylize.config import ClipSpec, StylizeConfig, VggSpec
from gs_enhancer_addon.core.stages import StageContext
from gs_enhancer_addon.core.stylize.vgg import VGG_FILES, load_vgg19
from tests.core.model_layouts import (
    CLIP_REPO, SVD_REPO, VGG_REPO, UnpickleSpy, build_open_clip_repo, build_svd_xt, build_vgg_repo,
    put_in_hub_cache, truncate,
)

pytestmark = pytest.mark.needs_torch

SVD_FILES = enhancer_files(EnhancerSources()).base  # the default repo, fp16 variant
STYLE = StylizeConfig(text="fire")  # content network vgg19: CLIP and VGG are both needed


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    """The three default repos as plain folders (every file of the repo), built once."""
    root = tmp_path_factory.mktemp("repos")
    return {SVD_REPO: build_svd_xt(root / "svd", pickles=True), CLIP_REPO: build_open_clip_repo(root / "clip"),
            VGG_REPO: build_vgg_repo(root / "vgg")}


def default_models(cache_dir: Path) -> ModelsConfig:
    """The public defaults (as `--models hub`), offline, the tiny VGG's width."""
    return ModelsConfig(tiny=False, vgg=VggSpec(width_divisor=16), offline=True, cache_dir=cache_dir)


def fill(cache: Path, repos: dict, trees: bool, skip: tuple[str, str] | None = None) -> None:
    """Each default repo in `cache` with exactly the files the add-on downloads (but `skip`)."""
    for repo, files in ((SVD_REPO, SVD_FILES), (CLIP_REPO, CLIP_FILES), (VGG_REPO, VGG_FILES)):
        names = [f for f in files.files if (repo, f) != skip]
        put_in_hub_cache(cache, repo, repos[repo], files=names, trees=trees)


def test_the_exact_file_lists_of_the_default_models():
    assert set(SVD_FILES.files) == {
        "model_index.json", "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json",
        "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors",
        "image_encoder/config.json", "image_encoder/model.fp16.safetensors",
    } and SVD_FILES.gated
    assert CLIP_FILES.files == ("open_clip_config.json", "open_clip_model.safetensors")
    assert VGG_FILES.files == ("model.safetensors",)


@pytest.mark.parametrize("trees", [False, True], ids=["no-trees", "trees"])
def test_a_complete_cache_loads_from_the_listed_files_only(repos, tmp_path, trees):
    """Every file of the repos is cached; the ones the loaders must not open are garbage, so any
    read of them would fail: the fp32 weights, the root checkpoints, the pickles, transformers'
    model.safetensors of the CLIP repo."""
    cache = tmp_path / "hub"
    for repo, folder in repos.items():
        snapshot = put_in_hub_cache(cache, repo, folder, trees=trees)
        listed = {SVD_REPO: SVD_FILES, CLIP_REPO: CLIP_FILES, VGG_REPO: VGG_FILES}[repo].files
        for path in snapshot.rglob("*"):
            name = path.relative_to(snapshot).as_posix()
            if path.is_file() and name not in listed and name.endswith((".safetensors", ".bin")):
                path.unlink()
                path.write_bytes(b"not weights")
    models = default_models(cache)
    models.check_available(STYLE)
    pipe = load_enhancer_of(models, "float32")
    fp16 = build_state(repos[SVD_REPO] / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    assert all(torch.equal(pipe.unet.state_dict()[k], v.float()) for k, v in fp16.items())
    assert pipe.unet.dtype == torch.float32
    clip, vgg = load_style_of(models, STYLE)
    reference = build_state(repos[CLIP_REPO] / "open_clip_model.safetensors")
    assert all(torch.equal(clip.model.state_dict()[k], v) for k, v in reference.items())
    assert vgg(torch.rand(1, 3, 32, 32))[0].shape[1] == 512 // 16
    assert [loc.cache for loc in models.locate()] == [cache] * 3


def load_enhancer_of(models: ModelsConfig, precision: str = "auto"):
    """The enhancer as a job loads it: through the "svd" backend into a model cache."""
    from gs_enhancer_addon.core.enhance.backend import SvdEnhancer
    from gs_enhancer_addon.core.enhance.config import EnhancerConfig
    from gs_enhancer_addon.core.job_config import JobConfig

    config = JobConfig(models=models, enhance=EnhancerConfig(precision=precision))
    return SvdEnhancer(config).load(StageContext([torch.device("cpu")], ModelCache()))


def load_style_of(models: ModelsConfig, style: StylizeConfig):
    """(CLIP, VGG-19) as a job loads them: through the "clipstyler" backend into a model cache."""
    from gs_enhancer_addon.core.job_config import JobConfig
    from gs_enhancer_addon.core.stylize.backend import ClipStyler

    return ClipStyler(JobConfig(models=models, stylize=style)).load(StageContext([torch.device("cpu")], ModelCache()))


def build_state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


MISSING = [(SVD_REPO, f) for f in SVD_FILES.files] + [(CLIP_REPO, f) for f in CLIP_FILES.files] + [
    (VGG_REPO, VGG_FILES.files[0])]


@pytest.mark.parametrize("trees", [False, True], ids=["no-trees", "trees"])
@pytest.mark.parametrize("skip", MISSING, ids=[f"{r.split('/')[0]}:{f}" for r, f in MISSING])
def test_each_missing_file_is_named_with_the_fix_before_any_work(repos, tmp_path, skip, trees):
    cache = tmp_path / "hub"
    fill(cache, repos, trees, skip)
    models = default_models(cache)
    with pytest.raises(ModelNotAvailableError) as info:
        models.check_available(STYLE)
    message = str(info.value)
    repo, name = skip
    assert f"missing {name}" in message and repo in message, message
    assert f"`hf download {repo} --include {name}`" in message, message
    assert ("hf auth login" in message) == (repo == SVD_REPO), message
    assert "huggingface-cli" not in message
    assert str(cache) in message, "the message says where it looked"


def test_a_pickle_only_clip_is_refused_without_unpickling(tmp_path, monkeypatch):
    """A CLIP folder or hub repo without open_clip_model.safetensors, but with open_clip's .bin
    pickle and transformers' model.safetensors: named as missing, nothing unpickled, no fallback."""
    folder = build_open_clip_repo(tmp_path / "clip", safetensors=False)
    put_in_hub_cache(tmp_path / "hub", "someone/clip-pickle-only", folder, trees=True)
    spy = UnpickleSpy(monkeypatch)
    for spec in (ClipSpec(model_name=str(folder)), ClipSpec(model_name="hf-hub:someone/clip-pickle-only")):
        with pytest.raises(ModelNotAvailableError, match="missing open_clip_model.safetensors"):
            load_clip(spec, offline=True, cache_dir=tmp_path / "hub")
    assert spy.calls == []


def test_no_loader_unpickles_even_when_pickles_are_offered(repos, tmp_path, monkeypatch):
    """Every loader, on folders that hold a .bin pickle beside the safetensors file."""
    cache = tmp_path / "hub"
    for repo, folder in repos.items():  # the whole repos: SVD with its .bin files, CLIP, VGG
        put_in_hub_cache(cache, repo, folder)
    models = default_models(cache)
    spy = UnpickleSpy(monkeypatch)
    load_enhancer_of(models, "float32")
    load_style_of(models, STYLE)
    load_vgg19(VggSpec(source=str(repos[VGG_REPO]), width_divisor=16))  # a local folder with pytorch_model.bin
    load_clip(ClipSpec(model_name=str(repos[CLIP_REPO])))  # a local folder with open_clip_pytorch_model.bin
    assert spy.calls == []
    torch.load(repos[VGG_REPO] / "pytorch_model.bin", weights_only=True)  # the spy does see a pickle load
    assert spy.calls and spy.calls[0] == "torch.load"


@pytest.mark.parametrize("repo, name", [(SVD_REPO, "unet/diffusion_pytorch_model.fp16.safetensors"),
                                        (CLIP_REPO, "open_clip_model.safetensors"), (VGG_REPO, "model.safetensors")])
def test_a_truncated_weights_file_is_a_model_error(repos, tmp_path, repo, name):
    cache = tmp_path / "hub"
    fill(cache, repos, trees=False)
    snapshot = locate_model(ModelSource(repo), {SVD_REPO: SVD_FILES, CLIP_REPO: CLIP_FILES,
                                                VGG_REPO: VGG_FILES}[repo], cache).folder
    truncate(snapshot / name)
    models = default_models(cache)
    for offline in (True, False):  # online too: a cached model is checked before any work
        models.offline = offline
        with pytest.raises(ModelNotAvailableError) as info:
            models.check_available(STYLE)
        message = str(info.value)
        assert name in message and "damaged" in message and "--force-download" in message, message
    with pytest.raises(ModelNotAvailableError, match="damaged"):  # loading checks the same way
        if repo == SVD_REPO:
            load_enhancer_of(models)
        else:
            load_style_of(models, STYLE)


def test_a_damaged_copy_does_not_hide_a_sound_one_in_the_other_cache(repos, tmp_path, monkeypatch):
    """The fix for a damaged file (`hf download ... --force-download`) fills the standard cache;
    the damaged copy in the add-on's folder, searched first, must not win."""
    own, standard = tmp_path / "own", tmp_path / "standard"
    monkeypatch.setenv("HF_HUB_CACHE", str(standard))
    fill(own, repos, trees=False)
    truncate(locate_model(ModelSource(VGG_REPO), VGG_FILES, own).folder / "model.safetensors")
    with pytest.raises(ModelNotAvailableError, match="damaged"):
        load_vgg19(VggSpec(width_divisor=16), offline=True, cache_dir=own)
    put_in_hub_cache(standard, VGG_REPO, repos[VGG_REPO], files=VGG_FILES.files)
    load_vgg19(VggSpec(width_divisor=16), offline=True, cache_dir=own)
    assert locate_model(ModelSource(VGG_REPO), VGG_FILES, own).cache == own  # found first, but damaged


def test_a_damaged_local_weights_file_is_a_model_error(tmp_path):
    path = tmp_path / "vgg19.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelNotAvailableError, match="damaged"):
        load_vgg19(VggSpec(source=str(path), width_divisor=16))
    with pytest.raises(ModelNotAvailableError, match="must be a .safetensors file"):
        load_vgg19(VggSpec(source=str(path.with_suffix(".pth"))))


def test_the_standard_hugging_face_cache_is_used_before_downloading(repos, tmp_path, monkeypatch):
    """The model is in ~/.cache/huggingface (HF_HUB_CACHE here); the add-on's own folder is empty:
    nothing is downloaded or written there, and `locate` says which cache held each model."""
    standard, own = tmp_path / "standard-hub", tmp_path / "extension-models"
    monkeypatch.setenv("HF_HUB_CACHE", str(standard))
    fill(standard, repos, trees=True)
    models = default_models(own)
    models.offline = False  # online: a complete cache is still used without any network call
    models.check_available(STYLE)
    load_enhancer_of(models, "float32")
    load_style_of(models, STYLE)
    assert [loc.cache for loc in models.locate()] == [standard] * 3
    assert all(str(standard) in loc.describe() for loc in models.locate())
    assert not own.exists()


def test_online_with_the_hub_unreachable_names_the_missing_files(repos, tmp_path):
    """HF_HUB_OFFLINE=1 (conftest) makes huggingface_hub refuse the network, as an unreachable hub."""
    cache = tmp_path / "hub"
    fill(cache, repos, trees=True, skip=(SVD_REPO, "scheduler/scheduler_config.json"))
    models = default_models(cache)
    models.offline = False
    models.check_available(STYLE)  # online, a model not fully cached is left for its stage to download
    with pytest.raises(ModelNotAvailableError) as info:
        models.download()
    message = str(info.value)
    assert "missing scheduler/scheduler_config.json" in message and "could not be reached" in message, message
    assert "hf download" in message and "huggingface-cli" not in message


def test_loading_is_quiet_unless_asked(repos, tmp_path, capfd, caplog):
    """No diffusers "should be kept in float32" warning and no transformers progress bar, also when
    the weights are cast (float16 on the CPU); verbose=True brings the bars back."""
    cache = tmp_path / "hub"
    fill(cache, repos, trees=False)
    sources = EnhancerSources()
    capfd.readouterr()
    caplog.set_level("WARNING")
    for precision in ("float32", "float16"):
        pipe = load_enhancer(sources, precision=precision, offline=True, cache_dir=cache)
        assert pipe.unet.dtype == pipe.decoder.dtype == pipe.image_encoder.dtype == getattr(torch, precision)
    load_clip(ClipSpec(), offline=True, cache_dir=cache)
    quiet = capfd.readouterr()
    assert quiet.out + quiet.err == "", quiet
    assert [r.getMessage() for r in caplog.records] == []  # e.g. open_clip's "initialized randomly"
    load_enhancer(sources, precision="float32", offline=True, cache_dir=cache, verbose=True)
    assert "Loading weights" in capfd.readouterr().err


def test_resolving_writes_no_process_state(repos, tmp_path):
    from gs_enhancer_addon.core import models as registry

    before = dict(os.environ)
    fill(tmp_path / "hub", repos, trees=False)
    default_models(tmp_path / "hub").check_available(STYLE)
    with pytest.raises(ModelNotAvailableError):
        ModelsConfig(tiny=False, offline=False, cache_dir=tmp_path / "empty").download()
    assert dict(os.environ) == before
    assert not hasattr(registry, "_cache_dir_override") and not hasattr(registry, "set_model_cache_dir")
