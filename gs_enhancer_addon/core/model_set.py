"""Which models one job uses: the tiny offline set, or real weights from folders / the hub.

The tiny set is built from config with seeded random weights, saved once under the model cache
and loaded back through the same loading code as real weights, so the demo and the tests run
the real code paths offline. It is untrained: the pipeline runs end to end, images do not improve.

`--models` on the command line (and the add-on preferences) map here:
  tiny        the tiny set (default offline);
  hub         the public default repos (core/enhance/components.py, core/stylize/config.py);
  FOLDER      a folder holding `enhancer/` (diffusers layout), optionally `clip/` (open_clip
              folder) and `vgg19/` (a .safetensors file, or a folder with
              model.safetensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import InputError
from .models import ModelLocation, ModelSource, locate_model, model_cache_dir, resolve_model

TINY_NOTE = ("The models are the tiny, untrained offline set: every stage ran for real, but the images are not "
             "improved. Point --models (or the add-on preferences) at real weights for useful results.")


@dataclass
class ModelsConfig:
    tiny: bool = True  # the tiny offline set (demo, tests); False = the sources below
    enhancer: "EnhancerSources" = None  # core.enhance.components.EnhancerSources; None = public defaults
    clip: "ClipSpec" = None  # core.stylize.config.ClipSpec; None = public default (ViT-B-32, LAION)
    vgg: "VggSpec" = None  # core.stylize.config.VggSpec; None = public default
    offline: Optional[bool] = None  # None: follow HF_HUB_OFFLINE; True: never download
    cache_dir: Optional[Path] = None  # hub download folder; None: $GS_ENHANCER_MODEL_CACHE, else the standard
    #                                   Hugging Face cache (which is always searched too; core/models.py)
    seed: int = 0  # the tiny set's seed
    prebuilt_enhancer: object = None  # an EnhancerPipeline built by the caller (benchmarks: full-size, random weights)

    def __post_init__(self) -> None:
        from .enhance.components import EnhancerSources
        from .stylize.config import ClipSpec, VggSpec

        self.enhancer = self.enhancer or EnhancerSources()
        self.clip = self.clip or ClipSpec()
        self.vgg = self.vgg or VggSpec()

    @classmethod
    def from_cli(cls, value: str) -> "ModelsConfig":
        if value == "tiny":
            return cls(tiny=True)
        if value == "hub":
            return cls(tiny=False)
        return cls.from_folder(Path(value))

    @classmethod
    def from_folder(cls, folder: Path) -> "ModelsConfig":
        from .enhance.components import EnhancerSources
        from .stylize.config import ClipSpec, VggSpec

        folder = folder.expanduser()
        if not folder.is_dir():
            raise InputError(f"--models: {folder} is neither 'tiny', 'hub' nor an existing folder.")
        enhancer = folder / "enhancer" if (folder / "enhancer").is_dir() else folder
        config = cls(tiny=False, enhancer=EnhancerSources(base=ModelSource(str(enhancer)), variant=None))
        if (folder / "clip").is_dir():
            config.clip = ClipSpec(model_name=str(folder / "clip"))
        if (folder / "vgg19").exists():
            config.vgg = VggSpec(source=str(folder / "vgg19"))
        return config

    def check_available(self, style: Optional["StylizeConfig"] = None) -> None:
        """Check every file the loaders will open, before any work (present, configs parse,
        safetensors headers sound); raise ModelNotAvailableError naming what is missing or damaged.
        `style`: the stylization settings when that stage will run (CLIP, and VGG-19 if it is the
        content network). Online, a model not downloaded yet is fetched later by its stage."""
        from .models import check_model, check_weights_file, hub_offline

        if self.tiny:
            return
        offline = hub_offline() if self.offline is None else self.offline
        for need in self._requirements(clip=style is not None,
                                       vgg=style is not None and style.losses.content_network == "vgg19"):
            if isinstance(need, Path):
                check_weights_file(need, "the weights file")
            else:
                check_model(*need, cache_dir=self.cache_dir, offline=offline)

    def load_enhancer(self, device, progress=None, precision: str = "auto"):
        """The EnhancerPipeline on `device`, kept loaded for the next job until release_models().

        The tiny set is saved once, then loaded through the same code as real weights.
        """
        from .enhance.components import EnhancerSources, ensure_tiny_enhancer, load_enhancer

        if self.prebuilt_enhancer is not None:
            return self.prebuilt_enhancer
        key = ("enhancer", repr(self.enhancer) if not self.tiny else f"tiny-{self.seed}", str(device), precision)
        if key not in _LOADED:
            release_models()  # one set on the GPU at a time
            if self.tiny:
                folder = ensure_tiny_enhancer(model_cache_dir(self.cache_dir) / "tiny", seed=self.seed)
                sources, offline = EnhancerSources(base=ModelSource(str(folder)), variant=None), True
            else:
                sources, offline = self.enhancer, self.offline
            _LOADED[key] = load_enhancer(sources, device=device, precision=precision, progress=progress,
                                         offline=offline, cache_dir=self.cache_dir)
        return _LOADED[key]

    def load_style_models(self, config: "StylizeConfig", device):
        """(CLIP, content network) for stylization; the tiny ones are saved once, then loaded
        through the same loaders as real weights. Returns them with the StylizeConfig to use."""
        from dataclasses import replace

        from .stylize.components import load_components
        from .stylize.config import TINY_VGG_WIDTH_DIVISOR, ClipSpec, VggSpec

        key = ("style", f"tiny-{self.seed}" if self.tiny else repr((self.clip, self.vgg)),
               config.losses.content_network, str(device))
        if self.tiny:
            clip_dir, vgg_file = ensure_tiny_style_models(model_cache_dir(self.cache_dir) / "tiny", self.seed)
            config = replace(config, clip=ClipSpec(model_name=str(clip_dir)),
                             vgg=VggSpec(source=str(vgg_file), width_divisor=TINY_VGG_WIDTH_DIVISOR), offline=True)
        else:
            config = replace(config, clip=self.clip, vgg=self.vgg, offline=self.offline)
        if key not in _LOADED:
            _LOADED[key] = load_components(config, device, cache_dir=self.cache_dir)
        return _LOADED[key], config

    def download(self, progress=None, cancel=None) -> None:
        """Fetch every configured model into the cache now (the preferences' Download button)."""
        from .progress import check_cancel, sub_progress

        fetchers = self._fetchers(clip=True, vgg=True)
        for i, fetch in enumerate(fetchers):
            check_cancel(cancel)
            fetch(sub_progress(progress, i / len(fetchers), (i + 1) / len(fetchers)), False)

    def _fetchers(self, clip: bool, vgg: bool) -> list:
        """One callable (progress, offline) per model to resolve: the loaders' own exact file lists."""
        from .models import check_weights_file

        fetchers = []
        for need in self._requirements(clip, vgg):
            if isinstance(need, Path):  # a weights file named by the user
                fetchers.append(lambda progress, offline, path=need: check_weights_file(path, "the weights file"))
            else:
                fetchers.append(lambda progress, offline, n=need: resolve_model(
                    *n, cache_dir=self.cache_dir, progress=progress, offline=offline))
        return fetchers

    def _requirements(self, clip: bool, vgg: bool) -> list:
        """(source, ModelFiles) per model, or the Path of a single weights file."""
        from .enhance.components import enhancer_requirements
        from .stylize.clip_model import clip_requirement
        from .stylize.vgg import vgg_requirement

        needs = list(enhancer_requirements(self.enhancer))
        needs += [clip_requirement(self.clip)] if clip else []
        needs += [vgg_requirement(self.vgg.source)] if vgg else []
        return needs

    def locate(self) -> list[ModelLocation]:
        """Where each configured model is now (local folder, which hub cache, or missing); no network."""
        if self.tiny:
            return []
        return [locate_model(*need, cache_dir=self.cache_dir) if not isinstance(need, Path)
                else ModelLocation(f"the weights file {need.name}", need if need.is_file() else None, None,
                                   () if need.is_file() else (need.name,))
                for need in self._requirements(True, True)]

    def notes(self) -> list[str]:
        if self.prebuilt_enhancer is not None:
            return ["The enhancer was supplied by the caller (benchmark: random weights)."]
        return [TINY_NOTE] if self.tiny else []


def ensure_tiny_style_models(cache_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Save the tiny CLIP (open_clip folder) and narrow VGG-19 (safetensors) once; return their paths."""
    from safetensors.torch import save_file

    from .stylize.clip_model import TINY_CLIP_CONFIG, save_clip_folder, tiny_clip
    from .stylize.vgg import tiny_vgg19

    clip_dir = cache_dir / f"tiny-clip-seed{seed}"
    vgg_file = cache_dir / f"tiny-vgg19-seed{seed}.safetensors"
    if not (clip_dir / "open_clip_config.json").exists():
        partial = clip_dir.with_name(clip_dir.name + ".partial")
        save_clip_folder(tiny_clip(seed), partial, TINY_CLIP_CONFIG)
        partial.replace(clip_dir)  # nothing half-written under the final name
    if not vgg_file.exists():
        partial = vgg_file.with_name(vgg_file.name + ".partial")
        state = {k: v.contiguous() for k, v in tiny_vgg19(seed).state_dict().items()}
        save_file(state, str(partial))
        partial.replace(vgg_file)
    return clip_dir, vgg_file


# Loaded pipelines, reused by the next job with the same sources and device.
_LOADED: dict[tuple, object] = {}


def release_models() -> int:
    """Drop every loaded model and return GPU memory to the driver; returns how many were dropped."""
    import gc

    count = len(_LOADED)
    _LOADED.clear()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    return count


__all__ = ["ModelsConfig", "TINY_NOTE", "release_models"]
