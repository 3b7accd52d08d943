"""CLIP for text stylization: loading (open_clip), a frozen encoder wrapper, and a tiny test model.

CLIPstyler (Kwon & Ye, CVPR 2022) uses CLIP ViT-B/32 as a frozen judge of images and texts. We load
it through open_clip so that public LAION weights (default `ViT-B-32` / `laion2b_s34b_b79k`) or a
local copy can be used. Sources:
  * `model_name` is a local folder with `open_clip_config.json` + `open_clip_model.safetensors`
    (what `save_clip_folder` writes): loaded from there, nothing is downloaded;
  * `model_name` is `hf-hub:org/repo` (or `org/repo`): those two files of the repo;
  * `model_name` is an open_clip architecture and `pretrained` a pretrained tag: those two files
    of the tag's hub repo (laion/CLIP-ViT-B-32-laion2B-s34B-b79K for the default);
  * `model_name` is an open_clip architecture and `pretrained` a `.safetensors` file: that file.
Exactly these files are fetched and checked (core/models.py: offline rules, both hub caches,
header checks). The model is built from its config without weights and the one safetensors file
is loaded into it: open_clip never chooses a file, so its `.bin` fallback (a pickle) is never
reached. Anything unavailable raises `ModelNotAvailableError` with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import ModelNotAvailableError
from ..models import (
    ModelFiles, ModelSource, check_weights_file, is_local_location, load_weights_strictly, resolve_model,
)
from ..torchvision_compat import ensure_torchvision_importable
from .config import ClipSpec

TINY_CLIP_NAME = "gse-tiny-clip"
TINY_CLIP_CONFIG = {  # a real open_clip ViT, just very small: 32 px, 2 layers, the package's BPE tokenizer
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
_WEIGHTS = "open_clip_model.safetensors"  # open_clip's name for safetensors weights (hub repos and our folders)
CLIP_FILES = ModelFiles("the CLIP model (stylization)", ("open_clip_config.json", _WEIGHTS))


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


@dataclass(frozen=True)
class ClipWeights:
    """What `load_clip` builds: the open_clip architecture and the one safetensors file it reads."""

    model_name: str  # open_clip name: "local-dir:<folder>" (config from the folder) or a registered architecture
    weights: Path  # open_clip_model.safetensors (or the user's named .safetensors file)


def clip_requirement(spec: ClipSpec) -> tuple[ModelSource, ModelFiles] | Path:
    """Where `spec`'s files come from: (source, exact files) for a folder, an hf-hub repo or a
    pretrained tag's hub repo; or the path of a local weights file (`pretrained` = a file).
    Folders and repos need exactly `open_clip_config.json` and `open_clip_model.safetensors`."""
    name = spec.model_name.strip()
    if not is_local_location(name) or name not in _open_clip().list_models():
        return ModelSource(name), CLIP_FILES
    path = Path(spec.pretrained).expanduser() if spec.pretrained else None
    if path is not None and path.is_file():
        return path
    return ModelSource(_pretrained_repo(name, spec.pretrained)), CLIP_FILES


def resolve_clip(spec: ClipSpec, offline: Optional[bool], cache_dir: Optional[str | Path] = None) -> ClipWeights:
    """Check (and, online, download) `spec`'s exact files; see `clip_requirement`."""
    need = clip_requirement(spec)
    if isinstance(need, Path):
        check_weights_file(need, "the CLIP weights file")
        return ClipWeights(spec.model_name.strip(), need)
    folder = resolve_model(*need, cache_dir=cache_dir, offline=offline)
    return ClipWeights(f"local-dir:{folder}", folder / _WEIGHTS)


def _pretrained_repo(name: str, pretrained: str) -> str:
    """The hub repo behind an open_clip pretrained tag (e.g. laion/CLIP-ViT-B-32-laion2B-s34B-b79K)."""
    open_clip = _open_clip()
    cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else {}
    if not cfg.get("hf_hub"):
        tags = [t for t in open_clip.list_pretrained_tags_by_model(name)
                if open_clip.get_pretrained_cfg(name, t).get("hf_hub")]
        raise ModelNotAvailableError(
            f"CLIP weights '{pretrained}' for {name} are not a .safetensors file or a known tag; "
            f"tags with public weights: {', '.join(tags)}."
        )
    return "/".join(cfg["hf_hub"].strip("/").split("/")[:2])  # "org/repo[/file]" -> "org/repo"


def load_clip(spec: ClipSpec, device: str | torch.device = "cpu", offline: Optional[bool] = None,
              cache_dir: Optional[str | Path] = None) -> ClipModel:
    """Load a frozen CLIP (half precision on CUDA, float32 elsewhere). Raises ModelNotAvailableError.

    The model is created from its config without weights, then `open_clip_model.safetensors` (or
    the named .safetensors file) is loaded into it: open_clip never picks a file itself."""
    from safetensors.torch import load_file

    open_clip = _open_clip()
    device = torch.device(device)
    plan = resolve_clip(spec, offline, cache_dir)
    precision = "fp16" if device.type == "cuda" else "fp32"
    try:
        with _no_random_init_warning():  # the weights are loaded right below
            model = open_clip.create_model(plan.model_name, pretrained=None, load_weights=False,
                                           pretrained_text=False, precision=precision, device=device)
    except (RuntimeError, ValueError, FileNotFoundError, KeyError) as exc:
        raise ModelNotAvailableError(f"CLIP '{spec.model_name}' could not be built from its config: {exc}") from exc
    load_weights_strictly(model, load_file(str(plan.weights)), plan.weights, "CLIP")
    return _wrap(model, open_clip.get_tokenizer(plan.model_name), device)


@contextlib.contextmanager
def _no_random_init_warning() -> Iterator[None]:
    """Drop open_clip's "No pretrained weights loaded ... initialized randomly" root-logger warning
    for the one create_model call whose weights `load_clip` loads itself."""
    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


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
