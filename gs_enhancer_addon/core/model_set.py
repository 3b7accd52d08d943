"""Which models one job uses: the tiny offline set, or real weights from folders / the hub.

Plain data (no torch): the Blender main thread builds it from the preferences. The backends load
what it names (core/enhance/backend.py, core/stylize/backend.py) into the caller's ModelCache.

The tiny set is built from config with seeded random weights, saved once under the model cache
and loaded back through the same loading code as real weights, so the demo and the tests run
the real code paths offline. It is untrained: the pipeline runs end to end, images do not improve.

`--models` on the command line (and the add-on preferences) map here:
  tiny        the tiny set (default offline);
  hub         the public default repos (core/enhance/config.py, core/stylize/config.py);
  FOLDER      a folder holding `enhancer/` (diffusers layout), optionally `clip/` (open_clip
              folder) and `vgg19/` (weights file or folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .enhance.config import EnhancerSources
from .errors import InputError
from .models import ModelSource, resolve_model_source
from .stylize.config import ClipSpec, VggSpec

TINY_NOTE = ("The models are the tiny, untrained offline set: every stage ran for real, but the images are not "
             "improved. Point --models (or the add-on preferences) at real weights for useful results.")


@dataclass
class ModelsConfig:
    tiny: bool = True  # the tiny offline set (demo, tests); False = the sources below
    enhancer: EnhancerSources = field(default_factory=EnhancerSources)  # SVD folder/repo + fine-tuned parts
    clip: ClipSpec = field(default_factory=ClipSpec)  # default: ViT-B-32, LAION-2B
    vgg: VggSpec = field(default_factory=VggSpec)
    offline: Optional[bool] = None  # None: follow HF_HUB_OFFLINE; True: never download
    seed: int = 0  # the tiny set's seed

    @classmethod
    def from_cli(cls, value: str) -> "ModelsConfig":
        if value == "tiny":
            return cls(tiny=True)
        if value == "hub":
            return cls(tiny=False)
        return cls.from_folder(Path(value))

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
        return config

    def offline_now(self) -> bool:
        from .models import hub_offline

        return hub_offline() if self.offline is None else self.offline

    def check_enhancer_available(self) -> None:
        """Offline and an enhancer model missing: ModelNotAvailableError now, before any work.
        Online, missing weights are downloaded later by the stage that needs them."""
        if not self.tiny and self.offline_now():
            for fetch in self._enhancer_fetchers():
                fetch(None, True)

    def check_style_available(self, content_network: str) -> None:
        """As check_enhancer_available, for CLIP and (when it is the content network) VGG-19."""
        if not self.tiny and self.offline_now():
            for fetch in self._style_fetchers(vgg=content_network == "vgg19"):
                fetch(None, True)

    def download(self, progress=None, cancel=None) -> None:
        """Fetch every configured model into the cache now (the preferences' Download button)."""
        from .progress import check_cancel, sub_progress

        fetchers = self._enhancer_fetchers() + self._style_fetchers(vgg=True)
        for i, fetch in enumerate(fetchers):
            check_cancel(cancel)
            fetch(sub_progress(progress, i / len(fetchers), (i + 1) / len(fetchers)), False)

    def _enhancer_fetchers(self) -> list:
        """One callable (progress, offline) per enhancer model: the same rules as loading it."""
        from .enhance.components import resolve_enhancer_base

        fetchers = [lambda progress, offline: resolve_enhancer_base(self.enhancer, progress, offline)]
        for extra in (self.enhancer.unet, self.enhancer.decoder):
            if extra is not None:
                fetchers.append(lambda progress, offline, s=extra: resolve_model_source(s, progress=progress,
                                                                                       offline=offline))
        return fetchers

    def _style_fetchers(self, vgg: bool) -> list:
        from .stylize.clip_model import resolve_clip
        from .stylize.vgg import vgg_weights_file

        fetchers = [lambda progress, offline: resolve_clip(self.clip, offline)]
        if vgg:
            fetchers.append(lambda progress, offline: vgg_weights_file(self.vgg.source, offline))
        return fetchers

    def notes(self) -> list[str]:
        return [TINY_NOTE] if self.tiny else []


__all__ = ["ModelsConfig", "TINY_NOTE"]
