"""The whole enhancement as numbered stages: EnhanceJob(config).run(...) -> JobResult.

    1. check inputs      clear errors before any GPU work
    2. sample trajectory reference cameras -> T novel views per pair (core/cameras.py)
    3. render windows    the current splat along the path (core/render)
    4. enhance           video-diffusion restoration per window (core/enhance, 3DGS-Enhancer)
    5. stylize           only when a style text is given (core/stylize, CLIPstyler + StylizedNeRF)
    6. refine            confidence-aware fine-tuning on the generated views (core/refine.py)
    7. package           after-renders and a before/after sheet

Everything here works in one coordinate frame: the caller passes the splat and the cameras in
the same (world) frame. Progress reports the stage, its fraction and an ETA; cancel is checked
at least once per step of every stage; GPU memory is released at the end, also on error.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Literal, Optional, Sequence

import numpy as np

from .cameras import Camera, Trajectory, TrajectoryConfig, trajectory_from_references, trajectory_from_samples
from .errors import DeviceError, InputError
from .gaussians import GaussianScene
from .image_io import load_image
from .progress import CancelFn, ProgressFn, StagedProgress, check_cancel, sub_progress

DeviceName = Literal["auto", "cuda", "cpu"]
PathKind = Literal["references", "samples"]
Preset = Literal["fast", "balanced", "best"]


@dataclass
class JobConfig:
    """Everything the job needs besides the data; one place that composes the stage configs."""

    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    enhance: "EnhancerConfig" = None  # core.enhance.EnhancerConfig; None = its defaults
    refine: "RefineConfig" = None  # core.refine.RefineConfig; None = preset defaults
    stylize: "StylizeConfig" = None  # core.stylize.StylizeConfig; its `text` empty = no stylization
    models: "ModelsConfig" = None  # where the models come from; None = the tiny offline models
    device: DeviceName = "auto"  # "auto": CUDA when available, else CPU (if allow_cpu)
    allow_cpu: bool = True  # CPU runs are for small scenes and the tiny models
    render_size: Optional[tuple[int, int]] = None  # (width, height) override of the cameras' size
    use_reference_images: bool = True  # a camera's real photo replaces its render as reference frame
    keep_models_loaded: bool = False  # True: models stay in (GPU) memory for the next job (the add-on),
    # until model_set.release_models(); False: everything is released when the job ends

    def __post_init__(self) -> None:
        from .enhance import EnhancerConfig
        from .model_set import ModelsConfig
        from .refine import RefineConfig
        from .stylize.config import StylizeConfig

        self.enhance = self.enhance or EnhancerConfig()
        self.refine = self.refine or RefineConfig(iterations=300)
        self.stylize = self.stylize or StylizeConfig()
        self.models = self.models or ModelsConfig()


PRESET_STEPS = {"fast": 10, "balanced": 25, "best": 50}  # diffusion steps per window
PRESET_REFINE_ITERATIONS = {"fast": 150, "balanced": 500, "best": 1500}
PRESET_VIEWS_PER_SEGMENT = {"fast": 7, "balanced": 23, "best": 23}  # 23: one 25-frame SVD-xt window


def preset_config(preset: Preset = "balanced", *, steps: Optional[int] = None,
                  refine_iterations: Optional[int] = None, views_per_segment: Optional[int] = None,
                  style: str = "", **overrides) -> JobConfig:
    """Fast / Balanced / Best: diffusion steps, refinement length and views per segment; a None
    override keeps the preset's value. Other keyword arguments set JobConfig fields."""
    from .enhance import EnhancerConfig
    from .refine import RefineConfig

    config = JobConfig(enhance=EnhancerConfig(num_inference_steps=steps or PRESET_STEPS[preset]),
                       refine=RefineConfig(iterations=refine_iterations or PRESET_REFINE_ITERATIONS[preset]))
    for name, value in overrides.items():
        setattr(config, name, value)
    config.trajectory.views_per_segment = views_per_segment or (
        config.trajectory.views_per_segment if "trajectory" in overrides else PRESET_VIEWS_PER_SEGMENT[preset])
    config.stylize.text = style.strip()
    return config


@dataclass
class JobResult:
    scene: GaussianScene  # the refined (and stylized) Gaussians, same frame as the input
    trajectory: Trajectory
    before: np.ndarray  # [V, H, W, 3] float32: the input splat rendered along the path
    generated: np.ndarray  # [V, H, W, 3] float32: enhanced (and stylized) targets
    after: np.ndarray  # [V, H, W, 3] float32: the result rendered along the path
    stage_seconds: dict[str, float]
    notes: list[str]  # plain-words remarks for the user (e.g. "the models are untrained")
    stage_peak_bytes: dict[str, int] = field(default_factory=dict)  # peak CUDA memory per stage (CUDA only)

    def comparison_sheet(self, max_views: int = 8) -> np.ndarray:  # [3H, k*W, 3] float32
        """Rows: before / generated / after, for up to `max_views` views spread along the path."""
        picks = np.linspace(0, len(self.before) - 1, min(max_views, len(self.before))).round().astype(int)
        rows = [np.concatenate(list(frames[picks]), axis=1) for frames in (self.before, self.generated, self.after)]
        return np.concatenate(rows, axis=0)


STAGES = [("Check inputs", 0.2), ("Sample trajectory", 0.2), ("Render windows", 1.0), ("Enhance", 6.0),
          ("Stylize", 4.0), ("Refine", 4.0), ("Package result", 0.6)]


class EnhanceJob:
    def __init__(self, config: Optional[JobConfig] = None):
        self.config = config or JobConfig()

    # -- 1 ------------------------------------------------------------------------------------
    def check_inputs(self, scene: Optional[GaussianScene], cameras: Sequence[Camera], path: PathKind) -> "torch.device":
        """Raise a clear GsEnhancerError for anything that would fail later; return the device."""
        if scene is None or len(scene) == 0:
            raise InputError("No splat to enhance: pick a Gaussian splat object (or file) with at least one Gaussian.")
        scene.validate()
        minimum = 2
        if len(cameras) < minimum:
            what = "reference cameras" if path == "references" else "sampled frames of the animated camera"
            raise InputError(f"The camera path needs at least {minimum} {what}; found {len(cameras)}.")
        device = self._device()
        self.config.models.check_available(self.config.stylize if self.config.stylize.enabled else None)
        return device

    def _device(self) -> "torch.device":
        from .devices import resolve_device

        device = resolve_device(self.config.device)
        if device.type == "cpu" and not self.config.allow_cpu:
            raise DeviceError("No CUDA GPU found and CPU runs are turned off; enable CPU for small scenes.")
        return device

    # -- run ----------------------------------------------------------------------------------
    def run(self, scene: GaussianScene, cameras: Sequence[Camera], *, path: PathKind = "references",
            trajectory: Optional[Trajectory] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> JobResult:
        """`cameras`: the reference cameras (path="references") or the dense samples of an animated
        camera (path="samples"), in the splat's frame. `trajectory`: an already sampled path (the
        add-on samples it on the main thread); then it is used as is."""
        # Stage weights for the progress bar and ETA; a skipped stylization takes no share of it.
        weights = [(name, 0.0 if name == "Stylize" and not self.config.stylize.enabled else weight)
                   for name, weight in STAGES]
        staged = StagedProgress(progress, weights)
        self._seconds, self._peaks = {}, {}
        try:
            return self._run(scene, list(cameras), path, trajectory, staged, cancel)
        finally:
            _release_memory(self.config.keep_models_loaded)

    def _run(self, scene, cameras, path, trajectory, staged, cancel) -> JobResult:
        with self._stage("check"):
            staged.stage(0)(0.0)
            device = self.check_inputs(scene, cameras, path)
        with self._stage("trajectory"):
            staged.stage(1)(0.0)
            trajectory = trajectory or self._trajectory(cameras, path)
            check_cancel(cancel)
        with self._stage("render"):
            before = render_views(scene, trajectory.cameras, device, staged.stage(2), cancel)
            frames = self._with_reference_images(before, trajectory)
        with self._stage("enhance"):
            generated = self._enhance(frames, trajectory, device, staged.stage(3), cancel)
        with self._stage("stylize"):
            scene, generated = self._stylize(scene, generated, trajectory, device, staged.stage(4), cancel)
        with self._stage("refine"):
            refined = self._refine(scene, generated, trajectory, device, staged.stage(5), cancel)
        with self._stage("package"):
            after = render_views(refined, trajectory.cameras, device, staged.stage(6), cancel)
        return JobResult(refined, trajectory, before, generated, after, self._seconds, self.config.models.notes(),
                         self._peaks)

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Time a stage and, on CUDA, record its peak GPU memory."""
        import torch

        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] = time.perf_counter() - t0
            if cuda:
                self._peaks[name] = int(torch.cuda.max_memory_allocated())

    # -- 2 ------------------------------------------------------------------------------------
    def _trajectory(self, cameras: list[Camera], path: PathKind) -> Trajectory:
        cameras = [_resized(c, self.config.render_size) for c in cameras]
        if path == "samples":
            return trajectory_from_samples(cameras, self.config.trajectory)
        return trajectory_from_references(cameras, self.config.trajectory)

    def _with_reference_images(self, renders: np.ndarray, trajectory: Trajectory) -> np.ndarray:
        """Reference frames: the camera's real photo where it has one, else the render."""
        frames = renders.copy()
        if self.config.use_reference_images:
            for i in trajectory.reference_indices:
                cam = trajectory.cameras[i]
                if cam.image_path:
                    frames[i] = load_image(cam.image_path, cam.width, cam.height)
        return frames

    # -- 4 ------------------------------------------------------------------------------------
    def _enhance(self, frames, trajectory, device, progress, cancel) -> np.ndarray:  # [V, H, W, 3]
        import torch

        pipeline = self.config.models.load_enhancer(device, sub_progress(progress, 0.0, 0.1),
                                                    precision=self.config.enhance.precision)
        windows = trajectory.windows
        out = frames.copy()
        for w, window in enumerate(windows):
            idx = list(window.indices)
            x = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2)  # [T+2, 3, H, W]
            sub = sub_progress(progress, 0.1 + 0.9 * w / len(windows), 0.1 + 0.9 * (w + 1) / len(windows),
                               prefix=f"window {w + 1}/{len(windows)}")
            enhanced = pipeline(x, self.config.enhance, device=device, progress=sub, cancel=cancel,
                                cameras=[trajectory.cameras[i] for i in idx])  # pose conditioning
            out[idx[1:-1]] = enhanced[1:-1].permute(0, 2, 3, 1).numpy()  # references stay as they were
        return out

    # -- 5 ------------------------------------------------------------------------------------
    def _stylize(self, scene, generated, trajectory, device, progress, cancel):
        """CLIPstyler's losses made 3D-consistent by StylizedNeRF's mutual learning; the style
        network's final outputs become the refinement targets."""
        if not self.config.stylize.enabled:
            progress(1.0, "no style text: skipped")
            return scene, generated
        from .stylize.mutual import stylize_scene

        (clip, content_net), config = self.config.models.load_style_models(self.config.stylize, device)
        result = stylize_scene(scene, trajectory.cameras, list(generated), config, clip, content_net,
                               refine_config=self.config.refine, confidences=trajectory.confidence.tolist(),
                               progress=progress, cancel=cancel)
        # f's outputs after mutual learning: the enhanced views restyled, pulled toward the 3D model.
        return result.scene, np.stack(result.final_2d).astype(np.float32)

    # -- 6 ------------------------------------------------------------------------------------
    def _refine(self, scene, generated, trajectory, device, progress, cancel) -> GaussianScene:
        from dataclasses import replace

        from .refine import TrainingView, refine

        is_ref = trajectory.is_reference
        views = [TrainingView(camera=cam, image=generated[i], confidence=float(trajectory.confidence[i]),
                              is_reference=bool(is_ref[i])) for i, cam in enumerate(trajectory.cameras)]
        config = replace(self.config.refine, device=device.type)
        return refine(scene, views, config, progress=progress, cancel=cancel)


def render_views(scene: GaussianScene, cameras: Sequence[Camera], device, progress: ProgressFn,
                 cancel: Optional[CancelFn]) -> np.ndarray:  # [V, H, W, 3] float32
    """The splat rendered from every camera, as numpy frames (core.render.render_views)."""
    from .render import render_views as render_on_device

    return render_on_device(scene, cameras, device, progress, cancel).cpu().numpy()


def _resized(camera: Camera, size: Optional[tuple[int, int]]) -> Camera:
    if size is None or (camera.width, camera.height) == tuple(size):
        return camera
    from dataclasses import replace

    width, height = size
    K = camera.K.copy()
    K[0] *= width / camera.width
    K[1] *= height / camera.height
    return replace(camera, K=K, width=width, height=height)


def _release_memory(keep_models: bool) -> None:
    """Free what the job allocated (and its models unless kept); GPU memory goes back to the driver."""
    from .model_set import release_models

    if not keep_models:
        release_models()  # collects garbage and empties the CUDA cache itself
        return
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
