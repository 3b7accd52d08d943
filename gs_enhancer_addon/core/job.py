"""The whole enhancement as numbered stages: EnhanceJob(config, cache).run(...) -> JobResult.

    1. check inputs      clear errors before any GPU work
    2. sample trajectory reference cameras -> T novel views per pair (core/trajectory.py)
    3. render windows    the current splat along the path (core/render)
    4. enhance           the enhancer backend config.enhancer names (core/backends.py; "svd": 3DGS-Enhancer)
    5. stylize           only with a style text: the stylizer backend config.stylizer names
    6. refine            confidence-aware fine-tuning on the generated views (core/refine.py)
    7. package           after-renders and a before/after sheet

Everything here works in one coordinate frame: the caller passes the splat and the cameras in
the same (world) frame. The devices are resolved once (core/devices.py) and passed to every
stage (several devices, or a Ray cluster, spread the enhancer's windows: core/windows.py);
device failures become DeviceErrors naming the stage and what to lower. Progress reports
the stage, its fraction and an ETA; cancel is checked at least once per step of every stage.
Models are loaded into the caller's ModelCache (kept for its next job), or into a private one
that is released when the job ends.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

from .cameras import Camera, check_cameras, visible_fraction
from .errors import DeviceError, InputError
from .gaussians import GaussianScene
from .image_io import load_image
from .job_config import JobConfig, PathKind
from .model_cache import ModelCache, free_device_memory
from .progress import CancelFn, ProgressFn, StagedProgress, check_cancel
from .backends import ENHANCERS, STYLIZERS
from .stages import StageContext
from .trajectory import Trajectory, trajectory_from_references, trajectory_from_samples

if TYPE_CHECKING:  # pragma: no cover
    import torch


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
    def __init__(self, config: Optional[JobConfig] = None, cache: Optional[ModelCache] = None,
                 cluster: Optional[object] = None):
        self.config = config or JobConfig()
        self.cache = cache  # None: a private cache, released when the job ends
        self.cluster = cluster  # a core.cluster.RayCluster: the enhancer's windows run on its actors
        self.enhancer = ENHANCERS.create(self.config.enhancer, self.config)
        self.stylizer = STYLIZERS.create(self.config.stylizer, self.config) if self.stylizing else None

    @property
    def stylizing(self) -> bool:
        return self.config.stylize.enabled

    # -- 1 ------------------------------------------------------------------------------------
    def check_inputs(self, scene: Optional[GaussianScene], cameras: Sequence[Camera],
                     path: PathKind) -> list["torch.device"]:
        """Raise a clear GsEnhancerError for anything that would fail later; return the devices."""
        self.config.check()
        if scene is None or len(scene) == 0:
            raise InputError("No splat to enhance: pick a Gaussian splat object (or file) with at least one Gaussian.")
        scene.validate()
        minimum = 2
        if len(cameras) < minimum:
            what = "reference cameras" if path == "references" else "sampled frames of the animated camera"
            raise InputError(f"The camera path needs at least {minimum} {what}; found {len(cameras)}.")
        check_cameras(cameras)
        devices = self._devices()
        self.enhancer.check_available()
        if self.stylizer is not None:
            self.stylizer.check_available()
        return devices

    def _devices(self) -> list["torch.device"]:
        from .devices import resolve_devices

        devices = resolve_devices(self.config.device)
        if devices[0].type == "cpu" and not self.config.allow_cpu:
            raise DeviceError("No CUDA GPU found and CPU runs are turned off; enable CPU for small scenes.")
        return devices

    # -- run ----------------------------------------------------------------------------------
    def run(self, scene: GaussianScene, cameras: Sequence[Camera], *, path: PathKind = "references",
            trajectory: Optional[Trajectory] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> JobResult:
        """`cameras`: the reference cameras (path="references") or the dense samples of an animated
        camera (path="samples"), in the splat's frame. `trajectory`: an already sampled path (the
        add-on samples it on the main thread); then it is used as is."""
        # Stage weights for the progress bar and ETA; a skipped stylization takes no share of it.
        weights = [(name, 0.0 if name == "Stylize" and not self.stylizing else weight) for name, weight in STAGES]
        staged = StagedProgress(progress, weights)
        self._seconds, self._peaks = {}, {}
        cache = self.cache if self.cache is not None else ModelCache()
        try:
            return self._run(scene, list(cameras), path, trajectory, staged, cancel, cache)
        finally:
            if self.cache is None:
                cache.release()  # frees GPU memory too
            else:
                free_device_memory()

    def _run(self, scene, cameras, path, trajectory, staged, cancel, cache) -> JobResult:
        from .devices import translate_device_errors
        from .render import RenderSettings
        from .render.views import render_views_numpy

        def context(index: int) -> StageContext:
            return StageContext(devices, cache, staged.stage(index), cancel, self.cluster)

        self._warnings = []
        with self._stage("check", None):
            staged.stage(0)(0.0)
            devices = self.check_inputs(scene, cameras, path)
            scene = self._sanitized(scene)
        device = devices[0]
        settings = RenderSettings(antialiased=scene.antialiased)  # as the splat was trained (Mip-Splatting or not)
        with self._stage("trajectory", None):
            staged.stage(1)(0.0)
            trajectory = trajectory or self._trajectory(cameras, path)
            self._check_path(scene, trajectory)
            check_cancel(cancel)
        with self._stage("render", device), translate_device_errors("render"):
            before = render_views_numpy(scene, trajectory.cameras, device, staged.stage(2), cancel, settings)
            frames = require_finite(self._with_reference_images(before, trajectory), "render")
        with self._stage("enhance", device), translate_device_errors("enhance"):
            generated = require_finite(self.enhancer.enhance(scene, frames, trajectory, context(3)), "enhance")
        with self._stage("stylize", device), translate_device_errors("stylize"):
            if self.stylizer is None:
                staged.stage(4)(1.0, "no style text: skipped")
            else:
                scene, generated = self.stylizer.stylize(scene, generated, trajectory, context(4))
                require_finite(generated, "stylize")
                require_finite_scene(scene, "stylize")
        with self._stage("refine", device), translate_device_errors("refine"):
            refined = require_finite_scene(self._refine(scene, generated, trajectory, context(5)), "refine")
        with self._stage("package", device), translate_device_errors("render"):
            after = require_finite(render_views_numpy(refined, trajectory.cameras, device, staged.stage(6), cancel,
                                                      settings), "package")
        return JobResult(refined, trajectory, before, generated, after, self._seconds, self._notes(), self._peaks)

    def _notes(self) -> list[str]:
        from .render import backend_notes  # e.g. gsplat's kernels could not load: the slower fallback ran

        notes = self._warnings + self.enhancer.notes() + (self.stylizer.notes() if self.stylizer is not None else [])
        return list(dict.fromkeys(notes + backend_notes()))  # each remark once

    def _sanitized(self, scene: GaussianScene) -> GaussianScene:
        """Repair what would turn the run non-finite (the input itself is never changed): splat
        sizes beyond e^MAX_LOG_SCALE overflow the covariances, so they are clamped, with a note."""
        too_big = scene.log_scales > MAX_LOG_SCALE
        count = int(np.count_nonzero(too_big.any(axis=1)))
        if not count:
            return scene
        repaired = scene.copy()
        np.minimum(repaired.log_scales, MAX_LOG_SCALE, out=repaired.log_scales)
        self._warnings.append(f"{count} of {len(scene)} splats had a log-scale above {MAX_LOG_SCALE:g} (a size over "
                              f"e^{MAX_LOG_SCALE:g}); they were clamped to it.")
        return repaired

    def _check_path(self, scene: GaussianScene, trajectory: Trajectory) -> None:
        """Before any rendering: every view usable, the frames fit in memory, the splat in view."""
        check_cameras(trajectory.cameras, "the camera path")
        check_frame_memory(trajectory.cameras)
        blind = blind_views(scene, trajectory.cameras)
        if len(blind) * 2 > len(trajectory.cameras):
            raise InputError(f"The splat is not visible from {len(blind)} of the {len(trajectory.cameras)} views "
                             f"(e.g. '{trajectory.cameras[blind[0]].name}'): the cameras look away from it or are "
                             "not in its frame. Point the cameras at the splat.")
        if blind:
            self._warnings.append(f"The splat is not visible from {len(blind)} of the {len(trajectory.cameras)} "
                                  "views; those views add nothing.")

    @contextmanager
    def _stage(self, name: str, device) -> Iterator[None]:
        """Time a stage and, on a CUDA device, record its peak GPU memory."""
        cuda = device is not None and device.type == "cuda"
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] = time.perf_counter() - t0
            if cuda:
                self._peaks[name] = int(torch.cuda.max_memory_allocated(device))

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

    # -- 6 ------------------------------------------------------------------------------------
    def _refine(self, scene, generated, trajectory, ctx: StageContext) -> GaussianScene:
        from .refine import refine

        return refine(scene, training_views(generated, trajectory), self.config.refine, progress=ctx.progress,
                      cancel=ctx.cancel, device=ctx.device)


def training_views(generated: np.ndarray, trajectory: Trajectory) -> list:  # [V, H, W, 3] -> V TrainingViews
    """The fine-tuning's supervision: every frame of the path with its image-level confidence
    (references: their photos, confidence 1)."""
    from .refine import TrainingView

    is_ref = trajectory.is_reference
    return [TrainingView(camera=cam, image=generated[i], confidence=float(trajectory.confidence[i]),
                         is_reference=bool(is_ref[i])) for i, cam in enumerate(trajectory.cameras)]


MAX_LOG_SCALE = 12.0  # splat sizes beyond e^12 (160 000 units) are clamped: larger ones overflow float32
_VISIBLE_POINTS = 1000  # a view "sees" the splat when one of this many sampled centres is in its image
_FRAME_STACKS = 6  # float32 frame stacks alive at once: before, frames, generated, after, and the stages' copies


def require_finite(frames: np.ndarray, stage: str) -> np.ndarray:
    """`frames` unchanged, or InputError when the stage produced NaN or infinite values."""
    if not np.isfinite(frames).all():
        raise InputError(f"The {stage} stage produced NaN or infinite values, so no result is written. "
                         + _NONFINITE_ADVICE)
    return frames


def require_finite_scene(scene: GaussianScene, stage: str) -> GaussianScene:
    bad = int(np.count_nonzero(scene.nonfinite_mask()))
    if bad:
        raise InputError(f"The {stage} stage made {bad} of {len(scene)} splats NaN or infinite, so no result is "
                         "written. " + _NONFINITE_ADVICE)
    return scene


_NONFINITE_ADVICE = ("Check the splat for extreme values (huge scales or opacities) and the cameras' intrinsics, "
                     "or use fewer refine iterations.")


def blind_views(scene: GaussianScene, cameras: Sequence[Camera]) -> list[int]:
    """Indices of the views in which no splat centre (of an even sample of them) falls in the image."""
    step = max(1, len(scene) // _VISIBLE_POINTS)
    points = scene.means[::step]
    return [i for i, cam in enumerate(cameras) if visible_fraction(cam, points) == 0.0]


def check_frame_memory(cameras: Sequence[Camera]) -> None:
    """InputError when the views' frames alone would not fit in this computer's memory."""
    needed = sum(c.width * c.height for c in cameras) * 3 * 4 * _FRAME_STACKS
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise InputError(f"The {len(cameras)} views need about {needed / 2**30:.1f} GiB for their frames, more than "
                         f"the {available / 2**30:.1f} GiB of memory available; lower the render resolution or the "
                         "views per segment.")


def available_memory_bytes() -> Optional[int]:
    """Memory a new allocation can get now, page cache included (Linux's MemAvailable; free pages
    elsewhere), or None where it cannot be read."""
    import os

    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _resized(camera: Camera, size: Optional[tuple[int, int]]) -> Camera:
    if size is None or (camera.width, camera.height) == tuple(size):
        return camera
    width, height = size
    K = camera.K.copy()
    K[0] *= width / camera.width
    K[1] *= height / camera.height
    return replace(camera, K=K, width=width, height=height)
