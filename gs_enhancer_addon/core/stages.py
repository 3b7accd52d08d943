"""The seams between the job and its model-backed stages: the Enhancer and Stylizer protocols, the
context a stage runs in, and the registry type that names backends (the registries themselves, with
the built-in backends, are in core/backends.py).

A second backend (e.g. a single-step image fixer in the style of Difix3D+, or another stylization
method) implements a protocol here, registers in core/backends.py's registry, and needs no change
to the job. A registry holds factories, so listing the backends imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Protocol

import numpy as np

from .errors import InputError
from .model_cache import ModelCache
from .progress import CancelFn, ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .gaussians import GaussianScene
    from .job_config import JobConfig
    from .trajectory import Trajectory


@dataclass
class StageContext:
    """What every stage runs with; the job builds one per stage."""

    devices: list["torch.device"]  # where to run; the first is the stage's main device
    cache: ModelCache  # loaded models, owned by the caller of the job
    progress: Optional[ProgressFn] = None  # this stage's share of the job's progress bar
    cancel: Optional[CancelFn] = None  # checked at least once per step
    # Where independent work items (the enhancer's windows) may go besides ctx.devices: a
    # core.cluster.RayCluster when the job runs on Ray (core/windows.py), else None.
    cluster: Optional[object] = None

    @property
    def device(self) -> "torch.device":
        return self.devices[0]


class Enhancer(Protocol):
    """Restores the rendered frames along the path (stage 4)."""

    def check_available(self) -> None:
        """Raise ModelNotAvailableError now (before any work) when a model is missing offline."""

    def notes(self) -> list[str]:
        """Plain-words remarks for the user about this backend's result (e.g. untrained models)."""

    def enhance(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> np.ndarray:
        """frames [V, H, W, 3] float32 in [0, 1], the renders with reference photos in place ->
        the enhanced frames, same shape; the reference frames are returned unchanged."""


class Stylizer(Protocol):
    """Restyles the scene after a text (stage 5); runs only when the job has a style text."""

    def check_available(self) -> None:
        """As Enhancer.check_available."""

    def notes(self) -> list[str]:
        """As Enhancer.notes."""

    def stylize(self, scene: "GaussianScene", frames: np.ndarray, trajectory: "Trajectory",
                ctx: StageContext) -> tuple["GaussianScene", np.ndarray]:
        """-> (the stylized scene, the stylized frames [V, H, W, 3] the refinement fits)."""


@dataclass(frozen=True)
class BackendInfo:
    name: str  # what JobConfig.enhancer / .stylizer holds, e.g. "svd"
    label: str  # shown in the preferences
    description: str  # the preferences' tooltip
    create: Callable[["JobConfig"], object]  # -> an Enhancer or a Stylizer configured for one job
    # The hook the preferences draw: names of the add-on preference properties this backend reads
    # (drawn under its choice), so each backend shows its own settings.
    settings: tuple[str, ...] = ()


class Registry:
    """Backends of one kind by name, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._infos: dict[str, BackendInfo] = {}

    def register(self, info: BackendInfo) -> None:
        if info.name in self._infos:
            raise ValueError(f"An {self.kind} backend named '{info.name}' is already registered.")
        self._infos[info.name] = info

    def unregister(self, name: str) -> None:
        self._infos.pop(name, None)

    def get(self, name: str) -> BackendInfo:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self._infos) or "none"
            raise InputError(f"Unknown {self.kind} '{name}'; available: {known}.") from None

    def infos(self) -> list[BackendInfo]:
        return list(self._infos.values())

    def create(self, name: str, config: "JobConfig"):
        return self.get(name).create(config)
