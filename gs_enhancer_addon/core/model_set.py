"""Which models one job uses: the tiny offline set, or real weights from folders / the hub.

Plain data (no torch): the Blender main thread builds it from the preferences. The backends load
what it names (core/enhance/backend.py, core/stylize/backend.py) into the caller's ModelCache.

The tiny set is built from config with seeded random weights, saved once under the model cache
and loaded back through the same loading code as real weights, so the demo and the tests run
the real code paths offline. It is untrained: the pipeline runs end to end, images do not improve.

The small set ships inside the add-on (`models/small-synthetic/`): a small enhancer trained from
scratch on procedural Blender scenes by scripts/enhancer_proof.py (docs/benchmarks.md). It improves
low-view splats like those scenes (128 x 96 px) and is not meant for real captures at full size.
A set folder may hold a MANIFEST.json; its "recommended" enhancer settings (diffusion steps,
guidance) replace the preset's (core/job_config.py), and its "note" is shown with every result.

`--models` on the command line (and the add-on preferences) map here:
  tiny        the tiny set (default offline);
  small       the small trained set shipped with the add-on (a local folder);
  hub         the public default repos (core/enhance/config.py, core/stylize/config.py);
  FOLDER      a folder holding `enhancer/` (diffusers layout), optionally `clip/` (open_clip
              folder) and `vgg19/` (a .safetensors file, or a folder with
              model.safetensors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .enhance.config import EnhancerSources
from .errors import InputError
from .models import ModelLocation, ModelSource, locate_model, resolve_model
from .stylize.config import ClipSpec, StylizeConfig, VggSpec

SMALL_SET_DIR = Path(__file__).resolve().parents[1] / "models" / "small-synthetic"
MANIFEST = "MANIFEST.json"

TINY_NOTE = ("The models are the tiny, untrained offline set: every stage ran for real, but the images are not "
             "improved. Point --models (or the add-on preferences) at real weights for useful results.")


@dataclass
class ModelsConfig:
    tiny: bool = True  # the tiny offline set (demo, tests); False = the sources below
    enhancer: EnhancerSources = field(default_factory=EnhancerSources)  # SVD folder/repo + fine-tuned parts
    clip: ClipSpec = field(default_factory=ClipSpec)  # default: ViT-B-32, LAION-2B
    vgg: VggSpec = field(default_factory=VggSpec)
    offline: Optional[bool] = None  # None: follow HF_HUB_OFFLINE; True: never download
    cache_dir: Optional[Path] = None  # hub download folder; None: $GS_ENHANCER_MODEL_CACHE, else the standard
    #                                   Hugging Face cache (which is always searched too; core/models.py)
    seed: int = 0  # the tiny set's seed
    recommended: dict = field(default_factory=dict)  # EnhancerConfig values the set's MANIFEST.json recommends
    note: Optional[str] = None  # what the set can and cannot do (its MANIFEST.json), shown with results

    @classmethod
    def from_cli(cls, value: str) -> "ModelsConfig":
        if value == "tiny":
            return cls(tiny=True)
        if value == "hub":
            return cls(tiny=False)
        if value == "small":
            return cls.small()
        return cls.from_folder(Path(value))

    @classmethod
    def small(cls, cache_dir: Optional[Path] = None) -> "ModelsConfig":
        """The small set trained on synthetic scenes, shipped with the add-on (a local folder: offline).
        It has no style models: a style run uses the default CLIP/VGG sources."""
        if not (SMALL_SET_DIR / "enhancer" / "model_index.json").is_file():
            raise InputError(f"The small trained model set is not in this install ({SMALL_SET_DIR}); "
                             "reinstall the add-on or use another model set.")
        config = cls.from_folder(SMALL_SET_DIR)
        config.cache_dir = cache_dir
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> "ModelsConfig":
        folder = folder.expanduser()
        if not folder.is_dir():
            raise InputError(f"--models: {folder} is neither 'tiny', 'hub' nor an existing folder.")
        enhancer = folder / "enhancer" if (folder / "enhancer").is_dir() else folder
        config = cls(tiny=False, enhancer=EnhancerSources(base=ModelSource(str(enhancer)), variant=None))
        if (folder / "clip").is_dir():
            config.clip = ClipSpec(model_name=str(folder / "clip"))
        if (folder / "vgg19").exists():
            config.vgg = VggSpec(source=str(folder / "vgg19"))
        if (folder / MANIFEST).is_file():
            config.recommended, config.note = _read_manifest(folder / MANIFEST)
        return config

    def offline_now(self) -> bool:
        from .models import hub_offline

        return hub_offline() if self.offline is None else self.offline

    def check_available(self, style: Optional[StylizeConfig] = None, *, enhancer: bool = True) -> None:
        """Check every file the loaders will open, before any work (present, configs parse,
        safetensors headers sound); raise ModelNotAvailableError naming what is missing or damaged.
        `enhancer`: the enhancer's models; `style`: the stylization settings when that stage will run
        (CLIP, and VGG-19 if it is the content network). Offline everything must be there; online,
        what is cached is verified and a model not downloaded yet is fetched later by its stage."""
        from .models import check_model, check_weights_file

        if self.tiny:
            return
        offline = self.offline_now()
        for need in self._requirements(enhancer=enhancer, clip=style is not None,
                                       vgg=style is not None and style.losses.content_network == "vgg19"):
            if isinstance(need, Path):
                check_weights_file(need, "the weights file")
            else:
                check_model(*need, cache_dir=self.cache_dir, offline=offline)

    def download(self, progress=None, cancel=None) -> None:
        """Fetch every configured model into the cache now (the preferences' Download button)."""
        from .progress import check_cancel, sub_progress

        fetchers = self._fetchers()
        for i, fetch in enumerate(fetchers):
            check_cancel(cancel)
            fetch(sub_progress(progress, i / len(fetchers), (i + 1) / len(fetchers)), False)

    def _fetchers(self) -> list:
        """One callable (progress, offline) per model to resolve: the loaders' own exact file lists."""
        from .models import check_weights_file

        fetchers = []
        for need in self._requirements(enhancer=True, clip=True, vgg=True):
            if isinstance(need, Path):  # a weights file named by the user
                fetchers.append(lambda progress, offline, path=need: check_weights_file(path, "the weights file"))
            else:
                fetchers.append(lambda progress, offline, n=need: resolve_model(
                    *n, cache_dir=self.cache_dir, progress=progress, offline=offline))
        return fetchers

    def _requirements(self, enhancer: bool, clip: bool, vgg: bool) -> list:
        """(source, ModelFiles) per model, or the Path of a single weights file."""
        from .enhance.components import enhancer_requirements
        from .stylize.clip_model import clip_requirement
        from .stylize.vgg import vgg_requirement

        needs = list(enhancer_requirements(self.enhancer)) if enhancer else []
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
                for need in self._requirements(True, True, True)]

    def notes(self) -> list[str]:
        return [TINY_NOTE] if self.tiny else [self.note] if self.note else []


def _read_manifest(path: Path) -> tuple[dict, Optional[str]]:
    """(recommended EnhancerConfig values, note) of a model set's MANIFEST.json; InputError if unusable."""
    import json
    from dataclasses import fields

    from .enhance.config import EnhancerConfig

    try:
        manifest = json.loads(path.read_text())
        recommended = dict(manifest.get("recommended", {}))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} cannot be read ({exc}).") from None
    unknown = set(recommended) - {f.name for f in fields(EnhancerConfig)}
    if unknown:
        raise InputError(f"{path} recommends unknown enhancer settings {sorted(unknown)}.")
    return recommended, manifest.get("note")


__all__ = ["ModelsConfig", "SMALL_SET_DIR", "TINY_NOTE"]
