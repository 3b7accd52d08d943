"""Model folders and Hugging Face caches with the default repos' real layouts, tiny weights.

Each builder writes the file names, variants and folders of the public repo it imitates, with
the tiny seeded models of the project (the same configs as the offline demo), so the loaders run
for real. `put_in_hub_cache` then lays a folder out as huggingface_hub's cache does:
models--org--name/blobs/<sha256>, snapshots/<commit>/<path> as links into blobs, refs/main, and
optionally trees/<commit>.json (huggingface_hub's listing of the whole repo).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Iterable, Optional

import torch
from safetensors.torch import save_file

COMMIT = "5c3bd3a3f0ab4bb0b1c9d37a7b1e3f9e2a6d8c41"
SVD_REPO = "stabilityai/stable-video-diffusion-img2vid-xt"
CLIP_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"  # the repo of open_clip's ViT-B-32 / laion2b_s34b_b79k
VGG_REPO = "timm/vgg19.tv_in1k"


def _random_safetensors(path: Path, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"weight": torch.randn(8, 8, generator=generator)}, str(path))


def _pickle_of(state: dict, path: Path) -> None:
    """A real torch pickle (what .bin/.pth files are): loading it would unpickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.clone() for k, v in state.items()}, str(path))


def build_svd_xt(folder: Path, seed: int = 0, pickles: bool = False) -> Path:
    """stabilityai/stable-video-diffusion-img2vid-xt's files: model_index.json, the component
    folders with both the fp32 and the fp16 weights, the root svd_xt*.safetensors checkpoints,
    LICENSE and README. With `pickles`, each component also offers a .bin pickle."""
    from gs_enhancer_addon.core.enhance.components import dummy_components
    from gs_enhancer_addon.core.models import quiet_loading

    parts = dummy_components(seed)
    models = {"unet": parts["unet"], "vae": parts["decoder"].vae, "image_encoder": parts["image_encoder"]}
    with quiet_loading():
        for name, model in models.items():
            model.save_pretrained(folder / name)
            copy.deepcopy(model).half().save_pretrained(folder / name, variant="fp16")
            if pickles:
                stem = "pytorch_model" if name == "image_encoder" else "diffusion_pytorch_model"
                _pickle_of(model.state_dict(), folder / name / f"{stem}.bin")
    parts["feature_extractor"].save_pretrained(folder / "feature_extractor")
    parts["scheduler"].save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableVideoDiffusionPipeline", "_diffusers_version": "0.24.0.dev0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "unet": ["diffusers", "UNetSpatioTemporalConditionModel"],
        "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
    }))
    _random_safetensors(folder / "svd_xt.safetensors", seed + 1)
    _random_safetensors(folder / "svd_xt_image_decoder.safetensors", seed + 2)
    (folder / "LICENSE").write_text("STABILITY AI COMMUNITY LICENSE (test copy)\n")
    (folder / "README.md").write_text("# Stable Video Diffusion Image-to-Video (test copy)\n")
    return folder


def build_open_clip_repo(folder: Path, seed: int = 0, safetensors: bool = True) -> Path:
    """laion/CLIP-ViT-B-32-laion2B-s34B-b79K's files, tiny: open_clip_config.json,
    open_clip_model.safetensors (unless `safetensors` is False: a pickle-only repo),
    open_clip_pytorch_model.bin (a pickle), transformers' config.json and model.safetensors."""
    from gs_enhancer_addon.core.stylize.clip_model import TINY_CLIP_CONFIG, save_clip_folder, tiny_clip

    clip = tiny_clip(seed)
    save_clip_folder(clip, folder, TINY_CLIP_CONFIG)
    _pickle_of(clip.model.state_dict(), folder / "open_clip_pytorch_model.bin")
    if not safetensors:
        (folder / "open_clip_model.safetensors").unlink()
    (folder / "config.json").write_text(json.dumps({"architectures": ["CLIPModel"], "model_type": "clip"}))
    _random_safetensors(folder / "model.safetensors", seed + 3)  # transformers' layout: other keys
    return folder


def build_vgg_repo(folder: Path, seed: int = 0) -> Path:
    """timm/vgg19.tv_in1k's files, narrow: config.json, model.safetensors, pytorch_model.bin."""
    from gs_enhancer_addon.core.stylize.vgg import tiny_vgg19

    state = {k: v.contiguous() for k, v in tiny_vgg19(seed).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    _pickle_of(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({"architecture": "vgg19", "num_classes": 1000}))
    return folder


def repo_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def put_in_hub_cache(cache: Path, repo_id: str, folder: Path, *, files: Optional[Iterable[str]] = None,
                     trees: bool = False, commit: str = COMMIT) -> Path:
    """Lay `files` of `folder` (default: all) out as huggingface_hub's cache holds a downloaded
    snapshot; `trees` also writes the listing of every file of `folder` (the whole repo, as the hub
    lists it), whether downloaded or not. Returns the snapshot folder."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    listing = {}
    for name in repo_files(folder):
        data = (folder / name).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        listing[name] = {"size": len(data), "blob_id": hashlib.sha1(data).hexdigest()}
        if name.endswith(".safetensors") or name.endswith(".bin"):
            listing[name].update(lfs_sha256=sha, lfs_size=len(data))
    for name in (repo_files(folder) if files is None else files):
        data = (folder / name).read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    snapshot.mkdir(parents=True, exist_ok=True)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    if trees:
        (storage / "trees").mkdir(exist_ok=True)
        (storage / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": listing}))
    return snapshot


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file (through its snapshot link: the blob) as an interrupted download leaves it."""
    target = path.resolve()
    data = target.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])


class UnpickleSpy:
    """Records every torch.load / pickle.load / pickle.loads / pickle.Unpickler use while installed."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        for owner, name in ((torch, "load"), (torch.serialization, "load"), (pickle, "load"), (pickle, "loads")):
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name), f"{owner.__name__}.{name}"))
        spy = self

        class RecordingUnpickler(pickle.Unpickler):
            def __init__(self, *args, **kwargs):
                spy.calls.append("pickle.Unpickler")
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(pickle, "Unpickler", RecordingUnpickler)

    def _wrap(self, function, label: str):
        def recorded(*args, **kwargs):
            self.calls.append(label)
            return function(*args, **kwargs)

        return recorded
