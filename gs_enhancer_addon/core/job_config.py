"""What one enhancement job is asked to do: plain data, importing no torch, diffusers or transformers,
so that Blender's main thread can build it when the user presses Enhance (Convention 2: one dataclass
per stage, composed here; Blender properties and the CLI convert to it in one function each)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal, Optional

from .enhance.config import EnhancerConfig
from .errors import InputError
from .model_set import ModelsConfig
from .refine_config import RefineConfig
from .stylize.config import StylizeConfig
from .trajectory import TrajectoryConfig

PathKind = Literal["references", "samples"]
Preset = Literal["fast", "balanced", "best"]


@dataclass
class JobConfig:
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    enhance: EnhancerConfig = field(default_factory=EnhancerConfig)
    refine: RefineConfig = field(default_factory=lambda: RefineConfig(iterations=300))
    stylize: StylizeConfig = field(default_factory=StylizeConfig)  # its `text` empty = no stylization
    models: ModelsConfig = field(default_factory=ModelsConfig)  # default: the tiny offline models
    enhancer: str = "svd"  # the enhancer backend (core.stages.ENHANCERS)
    stylizer: str = "clipstyler"  # the stylizer backend (core.stages.STYLIZERS)
    device: str = "auto"  # core.devices.resolve_devices: "auto", "all", "cpu", "cuda", "cuda:N", "cuda:0,1"
    allow_cpu: bool = True  # CPU runs are for small scenes and the tiny models
    render_size: Optional[tuple[int, int]] = None  # (width, height) override of the cameras' size
    use_reference_images: bool = True  # a camera's real photo replaces its render as reference frame

    def check(self) -> None:
        """InputError for a setting no run can honour: one rule for the CLI's options and the add-on's."""
        for label, value, least in (("views per segment", self.trajectory.views_per_segment, 1),
                                    ("diffusion steps", self.enhance.num_inference_steps, 1),
                                    ("refine iterations", self.refine.iterations, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"The {label} must be a whole number of at least {least}; got {value!r}.")
        if self.render_size is not None and not all(isinstance(v, int) and v >= 1 for v in self.render_size):
            raise InputError(f"The render size must be two positive whole numbers; got {self.render_size!r}.")
        check_device_spec(self.device)


_DEVICE_SPEC = re.compile(r"auto|all|cpu|cuda(:\d+(,\d+)*)?")


def check_device_spec(spec: str) -> None:
    """The form of a device choice, without torch (whether the GPUs exist is checked when the job
    starts: core.devices.resolve_devices)."""
    text = re.sub(r"\s+", "", str(spec)).lower()
    if not _DEVICE_SPEC.fullmatch(text):
        raise InputError(f"'{spec}' is not a device; use auto, all, cpu, cuda, cuda:N or cuda:0,1.")
    if text.startswith("cuda:") and len(set(text[5:].split(","))) != len(text[5:].split(",")):
        raise InputError(f"'{spec}' names a GPU twice.")


PRESET_STEPS = {"fast": 10, "balanced": 25, "best": 50}  # diffusion steps per window
PRESET_REFINE_ITERATIONS = {"fast": 150, "balanced": 500, "best": 1500}
PRESET_VIEWS_PER_SEGMENT = {"fast": 7, "balanced": 23, "best": 23}  # 23: one 25-frame SVD-xt window


def preset_config(preset: Preset = "balanced", *, steps: Optional[int] = None,
                  refine_iterations: Optional[int] = None, views_per_segment: Optional[int] = None,
                  style: str = "", **overrides) -> JobConfig:
    """Fast / Balanced / Best: diffusion steps, refinement length and views per segment; a None
    override keeps the preset's value (0 is a value, not "unset": refine_iterations=0 skips the
    fine-tuning, views_per_segment=0 is refused). Other keyword arguments set JobConfig fields.
    The model set's recommended enhancer settings (its MANIFEST.json) replace the preset's, except
    the `steps` given here."""
    config = JobConfig(enhance=EnhancerConfig(num_inference_steps=given_or(steps, PRESET_STEPS[preset])),
                       refine=RefineConfig(iterations=given_or(refine_iterations, PRESET_REFINE_ITERATIONS[preset])))
    for name, value in overrides.items():
        setattr(config, name, value)
    recommended = dict(config.models.recommended)  # the model set's own settings (e.g. the small set's few steps)
    if steps is not None:
        recommended.pop("num_inference_steps", None)  # the user's choice wins
    config.enhance = replace(config.enhance, **recommended)
    config.trajectory.views_per_segment = given_or(views_per_segment, (
        config.trajectory.views_per_segment if "trajectory" in overrides else PRESET_VIEWS_PER_SEGMENT[preset]))
    config.stylize.text = style.strip()
    config.check()
    return config


def given_or(value, default):
    """`value` unless it is None (0 is a value, not "unset")."""
    return default if value is None else value
