"""CLIP for text stylization: loading (open_clip), a frozen encoder wrapper, and a tiny test model.

CLIPstyler (Kwon & Ye, CVPR 2022) uses CLIP ViT-B/32 as a frozen judge of images and texts. We load
it through open_clip so that public LAION weights (default `ViT-B-32` / `laion2b_s34b_b79k`) or a
local copy can be used. Sources, in the order they are tried:
  * `model_name` is a local folder with `open_clip_config.json` + weights (what `save_clip_folder`
    writes): loaded from there, nothing is downloaded;
  * `model_name` is `hf-hub:org/repo`: the repo is fetched (or taken from the local cache when
    offline) and loaded as a folder;
  * `model_name` is an open_clip architecture and `pretrained` a weights file or a pretrained tag:
    the tag's hub file is fetched (or taken from the cache when offline).
Anything unavailable raises `ModelNotAvailableError` with a message saying what to do.
TODO(unify): hub fetching goes through `_hub_file` here; switch it to core/models.py's
`resolve_model_source` once that module exists, so every model honours the same offline rules.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import ModelNotAvailableError
from ..torchvision_compat import ensure_torchvision_importable
from .config import ClipSpec

TINY_CLIP_NAME = "gse-tiny-clip"
TINY_CLIP_CONFIG = {  # a real open_clip ViT, just very small: 32 px, 2 layers, the package's BPE tokenizer
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _open_clip():
    ensure_torchvision_importable()
    import open_clip

    return open_clip


@dataclass
class ClipModel:
    """A frozen open_clip model with its tokenizer; takes images in [0, 1], returns float32."""

    model: torch.nn.Module
    tokenizer: object
    image_size: int  # side of the square CLIP input
    mean: torch.Tensor  # [1, 3, 1, 1] CLIP normalization
    std: torch.Tensor  # [1, 3, 1, 1]

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.visual.parameters()).dtype

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] in [0, 1] -> [B, D]
        """Resize (bicubic, as CLIPstyler) and normalize for CLIP; unit-length embeddings, float32."""
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        x = (x - self.mean) / self.std
        features = self.model.encode_image(x.to(self.dtype)).float()
        return F.normalize(features, dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:  # -> [T, D] (not normalized)
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens).float()


def _wrap(model: torch.nn.Module, tokenizer, device: torch.device) -> ClipModel:
    model.eval().requires_grad_(False)
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    mean = getattr(model.visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
    std = getattr(model.visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)
    as_t = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)  # noqa: E731
    return ClipModel(model, tokenizer, size, as_t(mean), as_t(std))


def _offline(offline: Optional[bool]) -> bool:
    if offline is not None:
        return offline
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _hub_file(repo: str, filenames: Sequence[str], offline: bool) -> Path:
    """The first of `filenames` in hub repo `repo` (cache only when offline)."""
    from huggingface_hub import hf_hub_download

    problems = []
    for name in filenames:
        try:
            return Path(hf_hub_download(repo, name, local_files_only=offline))
        except Exception as exc:  # noqa: BLE001 - hub errors vary by version; report them all
            problems.append(f"{name}: {type(exc).__name__}")
    how = "it is not in the local cache and downloads are off (offline)" if offline else "it could not be downloaded"
    raise ModelNotAvailableError(
        f"CLIP weights from '{repo}' are not available: {how} ({'; '.join(problems)}). "
        "Connect to the internet once, or download the repository and set the CLIP model to that folder."
    )


def _resolve(spec: ClipSpec, offline: bool) -> tuple[str, Optional[str]]:
    """Turn a ClipSpec into (open_clip model_name, pretrained file or None)."""
    name = spec.model_name.strip()
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "open_clip_config.json").is_file():
            raise ModelNotAvailableError(f"CLIP folder '{folder}' has no open_clip_config.json.")
        return f"local-dir:{folder}", None
    if name.startswith("hf-hub:"):
        repo = name[len("hf-hub:"):]
        config = _hub_file(repo, ["open_clip_config.json"], offline)
        _hub_file(repo, _WEIGHT_FILES, offline)
        return f"local-dir:{config.parent}", None
    if os.sep in name or name.startswith((".", "~")):
        raise ModelNotAvailableError(f"CLIP folder '{folder}' does not exist.")
    return name, _resolve_pretrained(name, spec.pretrained, offline)


def _resolve_pretrained(name: str, pretrained: str, offline: bool) -> str:
    open_clip = _open_clip()
    if name not in open_clip.list_models():
        raise ModelNotAvailableError(f"'{name}' is not a CLIP architecture open_clip knows.")
    if pretrained and Path(pretrained).expanduser().is_file():
        return str(Path(pretrained).expanduser())
    cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else {}
    if not cfg.get("hf_hub"):
        tags = [t for t in open_clip.list_pretrained_tags_by_model(name)
                if open_clip.get_pretrained_cfg(name, t).get("hf_hub")]
        raise ModelNotAvailableError(
            f"CLIP weights '{pretrained}' for {name} are unknown; use a weights file or one of: {', '.join(tags)}."
        )
    hub = cfg["hf_hub"]  # "org/repo/" (default file names) or "org/repo/file"
    repo, filename = (hub.rstrip("/"), "") if hub.endswith("/") else os.path.split(hub)
    return str(_hub_file(repo, [filename] if filename else _WEIGHT_FILES, offline))


def load_clip(spec: ClipSpec, device: str | torch.device = "cpu", offline: Optional[bool] = None) -> ClipModel:
    """Load a frozen CLIP (half precision on CUDA, float32 elsewhere). Raises ModelNotAvailableError."""
    open_clip = _open_clip()
    device = torch.device(device)
    model_name, weights = _resolve(spec, _offline(offline))
    precision = "fp16" if device.type == "cuda" else "fp32"
    try:
        model = open_clip.create_model(model_name, pretrained=weights, precision=precision, device=device)
    except (RuntimeError, ValueError, FileNotFoundError, KeyError) as exc:
        raise ModelNotAvailableError(f"CLIP '{spec.model_name}' could not be loaded: {exc}") from exc
    return _wrap(model, open_clip.get_tokenizer(model_name), device)


def register_tiny_clip() -> str:
    """Register the tiny test architecture with open_clip (idempotent); returns its name."""
    open_clip = _open_clip()
    if TINY_CLIP_NAME not in open_clip.list_models():
        folder = Path(tempfile.mkdtemp(prefix="gse-open-clip-configs-"))
        (folder / f"{TINY_CLIP_NAME}.json").write_text(json.dumps(TINY_CLIP_CONFIG))
        open_clip.add_model_config(folder / f"{TINY_CLIP_NAME}.json")
    return TINY_CLIP_NAME


def tiny_clip(seed: int = 0, device: str | torch.device = "cpu") -> ClipModel:
    """A tiny real open_clip ViT with seeded random weights (tests, offline demo, benchmark)."""
    open_clip = _open_clip()
    name = register_tiny_clip()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(name, device=torch.device(device))
    return _wrap(model, open_clip.get_tokenizer(name), torch.device(device))


def save_clip_folder(clip: ClipModel, folder: str | Path, model_cfg: dict) -> Path:
    """Write `clip` as an open_clip local folder (config + safetensors), loadable by `load_clip`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    state = {k: v.detach().float().contiguous() for k, v in clip.model.state_dict().items()}
    save_file(state, str(folder / _WEIGHT_FILES[0]))
    return folder
