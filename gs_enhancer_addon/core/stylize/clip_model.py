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
Hub repos and local folders go through core/models.py (`resolve_model_source`: offline rules,
download progress, safetensors only). Anything unavailable raises `ModelNotAvailableError` with a
message saying what to do.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import ModelNotAvailableError
from ..models import ModelSource, is_local_location, require_files, resolve_model_source, safetensors_file_in
from ..torchvision_compat import ensure_torchvision_importable
from .config import ClipSpec

TINY_CLIP_NAME = "gse-tiny-clip"
TINY_CLIP_CONFIG = {  # a real open_clip ViT, just very small: 32 px, 2 layers, the package's BPE tokenizer
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
_WEIGHTS = "open_clip_model.safetensors"  # open_clip's name for safetensors weights (hub repos and our folders)
_HUB_PATTERNS = ("open_clip_config.json", "*.safetensors")


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

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] in [0, 1]
        """Resize (bicubic, as CLIPstyler does) and normalize for CLIP, in the model's dtype."""
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        return ((x - self.mean) / self.std).to(self.dtype)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] in [0, 1] -> [B, D]
        """Unit-length CLIP image embeddings, float32, differentiable with respect to `images`."""
        return F.normalize(self.model.encode_image(self._prepare(images)).float(), dim=-1)

    def token_features(self, images: torch.Tensor) -> list[torch.Tensor]:  # -> 2 x [B, C, h, w]
        """Spatial patch tokens after the middle and the last ViT block: the content features used
        instead of VGG-19 when `content_network="clip"` (no extra weights to download)."""
        blocks = len(self.model.visual.transformer.resblocks)
        out = self.model.visual.forward_intermediates(
            self._prepare(images), indices=[blocks // 2 - 1, blocks - 1], intermediates_only=True)
        return [f.float() for f in out["image_intermediates"]]

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


def resolve_clip(spec: ClipSpec, offline: Optional[bool]) -> tuple[str, Optional[str]]:
    """Turn a ClipSpec into (open_clip model name, weights file or None) through core/models.py."""
    name = spec.model_name.strip()
    if is_local_location(name) and name not in _open_clip().list_models():
        folder = resolve_model_source(ModelSource(name))
        require_files(folder, ["open_clip_config.json", "*.safetensors"], "The CLIP folder")
        return f"local-dir:{folder}", None
    if not is_local_location(name):  # "hf-hub:org/repo" or "org/repo"
        folder = resolve_model_source(ModelSource(name), allow_patterns=_HUB_PATTERNS, offline=offline)
        require_files(folder, ["open_clip_config.json", "*.safetensors"], f"The CLIP hub repo {name}")
        return f"local-dir:{folder}", None
    return name, str(_resolve_pretrained(name, spec.pretrained, offline))


def _resolve_pretrained(name: str, pretrained: str, offline: Optional[bool]) -> Path:
    """A local safetensors file, or the hub repo behind an open_clip pretrained tag."""
    open_clip = _open_clip()
    path = Path(pretrained).expanduser() if pretrained else None
    if path is not None and path.is_file():
        if path.suffix != ".safetensors":
            raise ModelNotAvailableError(f"CLIP weights must be a .safetensors file, not '{path.name}'.")
        return path
    cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else {}
    if not cfg.get("hf_hub"):
        tags = [t for t in open_clip.list_pretrained_tags_by_model(name)
                if open_clip.get_pretrained_cfg(name, t).get("hf_hub")]
        raise ModelNotAvailableError(
            f"CLIP weights '{pretrained}' for {name} are not a .safetensors file or a known tag; "
            f"tags with public weights: {', '.join(tags)}."
        )
    repo = "/".join(cfg["hf_hub"].strip("/").split("/")[:2])  # "org/repo[/file]" -> "org/repo"
    folder = resolve_model_source(ModelSource(repo), allow_patterns=_HUB_PATTERNS, offline=offline)
    return safetensors_file_in(folder, f"The CLIP hub repo {repo}", preferred=_WEIGHTS)


def load_clip(spec: ClipSpec, device: str | torch.device = "cpu", offline: Optional[bool] = None) -> ClipModel:
    """Load a frozen CLIP (half precision on CUDA, float32 elsewhere). Raises ModelNotAvailableError."""
    open_clip = _open_clip()
    device = torch.device(device)
    model_name, weights = resolve_clip(spec, offline)
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
    save_file(state, str(folder / _WEIGHTS))
    return folder
