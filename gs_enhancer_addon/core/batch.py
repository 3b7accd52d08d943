"""Many scenes in one run: a batch file (TOML or JSON) lists jobs; each runs as one EnhanceJob, one
after another in this process, or one job per Ray actor over a cluster (core/cluster.py). Each
job's outputs are written as soon as it finishes, each file atomically (core.io, and the CLI's
writer for the sheet and the .blend); a job whose outputs all exist already is skipped, so
re-running a batch resumes it. One job failing does not stop the others: the summary says which.

Batch file (paths relative to the batch file; `defaults` apply to every job):

    [defaults]
    preset = "fast"            # fast | balanced | best
    models = "tiny"            # tiny | hub | a folder

    [[jobs]]
    input = "garden.ply"       # splat file
    cameras = "garden/sparse/0"  # cams.json, transforms.json or a COLMAP folder
    out = "out/garden.ply"     # result splat (required)
    sheet = "out/garden.png"   # optional before/after sheet
    blend = "out/garden.blend" # optional .blend (needs the bpy module)
    style = "a watercolor painting"
    # optional: name, steps, views_per_segment, refine_iterations, preset, models

JSON: the same keys, {"defaults": {...}, "jobs": [{...}, ...]}.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from .errors import Cancelled, GsEnhancerError, InputError
from .model_cache import ModelCache
from .outputs import check_output_paths
from .progress import CancelFn, ProgressFn, check_cancel
from .stages import StageContext

if TYPE_CHECKING:  # pragma: no cover
    from .gaussians import GaussianScene
    from .job_config import JobConfig


@dataclass
class BatchJob:
    input: Path
    cameras: Path
    out: Path
    name: str = ""
    sheet: Optional[Path] = None
    blend: Optional[Path] = None
    style: str = ""
    preset: str = "balanced"
    models: str = "tiny"
    steps: Optional[int] = None
    views_per_segment: Optional[int] = None
    refine_iterations: Optional[int] = None

    def outputs(self) -> list[Path]:
        return [p for p in (self.out, self.sheet, self.blend) if p is not None]

    def finished(self) -> bool:
        """Every output is there (each was written whole, so present means complete)."""
        return all(p.exists() for p in self.outputs())

    def config(self, device: str) -> "JobConfig":
        from .job_config import preset_config
        from .model_set import ModelsConfig

        if self.preset not in ("fast", "balanced", "best"):
            raise InputError(f"Job '{self.name}': preset must be fast, balanced or best, not '{self.preset}'.")
        return preset_config(self.preset, steps=self.steps, style=self.style, device=device,
                             refine_iterations=self.refine_iterations, views_per_segment=self.views_per_segment,
                             models=ModelsConfig.from_cli(self.models))


_PATH_KEYS = ("input", "cameras", "out", "sheet", "blend")
_INT_KEYS = ("steps", "views_per_segment", "refine_iterations")
_KEYS = {f.name for f in fields(BatchJob)}


def load_batch(path: Path) -> list[BatchJob]:
    """Read a batch file (.toml or .json) -> its jobs, paths made absolute; InputError on any
    unknown key, missing key or duplicate output, naming the job."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Batch file not found: {path}")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise InputError(f"{path.name}: a batch file is .toml or .json.")
    except (ValueError, UnicodeDecodeError) as exc:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path.name} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    if isinstance(data, list):
        data = {"jobs": data}
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list) or not data["jobs"]:
        raise InputError(f"{path.name}: no jobs (a list under 'jobs').")
    defaults = data.get("defaults", {})
    jobs = [_job(path.parent, {**defaults, **entry}, i) for i, entry in enumerate(data["jobs"])]
    _check_unique(jobs)
    for job in jobs:  # every output writable, none on an input: before any job runs
        kinds = [(job.out, "splat"), (job.sheet, "image"), (job.blend, "blend")]
        check_output_paths([(p, kind) for p, kind in kinds if p is not None], inputs=[job.input, job.cameras])
    return jobs


def _job(base: Path, entry: Any, i: int) -> BatchJob:
    label = f"job {i + 1}"
    if not isinstance(entry, dict):
        raise InputError(f"{label}: expected a table of keys, got {type(entry).__name__}.")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InputError(f"{label}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}.")
    missing = [k for k in ("input", "cameras", "out") if not entry.get(k)]
    if missing:
        raise InputError(f"{label}: missing {', '.join(missing)}.")
    values = dict(entry)
    for key in _PATH_KEYS:
        if values.get(key):
            values[key] = (base / Path(str(values[key])).expanduser()).resolve()
    for key in _INT_KEYS:
        if values.get(key) is not None and (not isinstance(values[key], int) or values[key] < 1):
            raise InputError(f"{label}: {key} must be a positive whole number.")
    values["name"] = str(values.get("name") or values["input"].stem)
    return BatchJob(**values)


def _check_unique(jobs: list[BatchJob]) -> None:
    seen: dict[Path, str] = {}
    for job in jobs:
        for p in job.outputs():
            if p in seen:
                raise InputError(f"Jobs '{seen[p]}' and '{job.name}' both write {p}.")
            seen[p] = job.name


# -- running ---------------------------------------------------------------------------------------

@dataclass
class JobOutput:
    """What comes back from a job (from an actor too): the result without its frame stacks."""

    scene: "GaussianScene"
    sheet: Optional[np.ndarray]  # [3H, k*W, 3] float32, when the job asked for a sheet
    notes: list[str]
    stage_seconds: dict[str, float]

    def comparison_sheet(self) -> np.ndarray:  # what the CLI's writer calls
        return self.sheet


@dataclass
class JobPayload:
    config: "JobConfig"
    scene: "GaussianScene"
    cameras: list
    want_sheet: bool


class JobProcessor:
    """core.windows.ItemProcessor for whole jobs: runs on the worker's device with its cache; the
    job's windows run one after another there (each actor is one GPU). A job's own error (bad
    camera file, out of memory) comes back as text, so that one job's failure does not stop the
    batch; Cancelled and lost workers still stop it."""

    def load(self, ctx: StageContext) -> None:
        return None  # the job loads its models through ctx.cache itself

    def process(self, model: None, payload: JobPayload, ctx: StageContext) -> "JobOutput | str":
        try:
            return run_job(payload, ctx.cache, None, ctx.progress, ctx.cancel, device=str(ctx.device))
        except Cancelled:
            raise
        except GsEnhancerError as exc:
            return str(exc)


def run_job(payload: JobPayload, cache: ModelCache, cluster, progress: Optional[ProgressFn],
            cancel: Optional[CancelFn], device: Optional[str] = None) -> JobOutput:
    from .job import EnhanceJob

    config = payload.config if device is None else replace(payload.config, device=device)
    result = EnhanceJob(config, cache, cluster=cluster).run(payload.scene, payload.cameras, progress=progress,
                                                            cancel=cancel)
    return JobOutput(result.scene, result.comparison_sheet() if payload.want_sheet else None, result.notes,
                     result.stage_seconds)


@dataclass
class JobStatus:
    job: BatchJob
    status: str = "not run"  # done | skipped | failed | cancelled | not run
    seconds: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)


WriteFn = Callable[[BatchJob, JobOutput, JobPayload], None]  # the inputs too (a .blend shows them)


def run_batch(jobs: Sequence[BatchJob], write: WriteFn, *, device: str = "auto", cluster=None,
              force: bool = False, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelFn] = None) -> list[JobStatus]:
    """Run every unfinished job (all of them with `force`) and write its outputs with `write` as
    it finishes. Without `cluster`, one after another here (`device` as for one job, e.g.
    "cuda:0,1" spreads each job's windows); with a RayCluster, one job per actor. A job's error is
    recorded in its status. Cancel (or Ctrl+C) stops the batch: finished jobs keep their outputs,
    the others are marked cancelled and write nothing."""
    statuses = [JobStatus(job) for job in jobs]
    todo = []
    for status in statuses:
        if force or not status.job.finished():
            todo.append(status)
        else:
            status.status = "skipped"
    try:
        if cluster is None:
            _run_here(todo, write, device, progress, cancel)
        else:
            _run_on_cluster(todo, write, device, cluster, progress, cancel)
    except (Cancelled, KeyboardInterrupt):
        for status in todo:
            if status.status == "not run":
                status.status = "cancelled"
    except GsEnhancerError as exc:  # the cluster itself failed (e.g. every worker lost): the rest cannot run
        for status in todo:
            if status.status == "not run":
                status.status, status.error = "failed", str(exc)
    return statuses


def _payload(job: BatchJob, device: str) -> JobPayload:
    from .capture import load_cameras
    from .io import read_scene

    config = job.config(device)
    return JobPayload(config, read_scene(job.input), load_cameras(job.cameras), job.sheet is not None)


def _finish(status: JobStatus, output: JobOutput, payload: JobPayload, write: WriteFn, seconds: float) -> None:
    try:
        write(status.job, output, payload)
    except GsEnhancerError as exc:
        status.status, status.error = "failed", f"writing the outputs: {exc}"
        return
    status.status, status.seconds, status.notes = "done", seconds, output.notes


def _run_here(todo: list[JobStatus], write, device, progress, cancel) -> None:
    """One job after another; each job's inputs are read when its turn comes."""
    from .progress import sub_progress

    cache = ModelCache()  # shared by the jobs: each model loads once for the whole batch
    try:
        for i, status in enumerate(todo):
            check_cancel(cancel)
            t0 = time.perf_counter()
            job_progress = sub_progress(progress, i / len(todo), (i + 1) / len(todo), prefix=status.job.name)
            try:
                payload = _payload(status.job, device)
                output = run_job(payload, cache, None, job_progress, cancel)
            except Cancelled:
                raise
            except GsEnhancerError as exc:
                status.status, status.error, status.seconds = "failed", str(exc), time.perf_counter() - t0
                continue
            _finish(status, output, payload, write, time.perf_counter() - t0)
    finally:
        cache.release()


def _run_on_cluster(todo: list[JobStatus], write, device, cluster, progress, cancel) -> None:
    """One job per worker. The driver reads every job's inputs first (the workers need no access
    to them) and writes each job's outputs as it comes back."""
    from .windows import dispatch

    ready: list[tuple[JobStatus, JobPayload]] = []
    for status in todo:
        try:
            ready.append((status, _payload(status.job, device)))
        except GsEnhancerError as exc:
            status.status, status.error = "failed", str(exc)
    if not ready:
        return
    _prepare_models([payload.config for _, payload in ready])

    def on_result(i: int, output: "JobOutput | str") -> None:
        status, payload = ready[i]
        if isinstance(output, str):  # the job's own error, raised on the worker
            status.status, status.error = "failed", output
        else:
            _finish(status, output, payload, write, sum(output.stage_seconds.values()))

    dispatch(cluster.pool(), JobProcessor(), [payload for _, payload in ready], progress=progress,
             cancel=cancel, label="job", on_result=on_result)


def _prepare_models(configs: list["JobConfig"]) -> None:
    """Let each enhancer save what its workers would otherwise race to save (the tiny set)."""
    from .backends import ENHANCERS

    for config in configs:
        prepare = getattr(ENHANCERS.create(config.enhancer, config), "prepare", None)
        if prepare is not None:
            prepare()


def summary_table(statuses: Sequence[JobStatus]) -> str:
    """The end-of-batch table: job, status, time, error (or the first note)."""
    rows = [("job", "status", "time", "error / output")]
    for s in statuses:
        detail = s.error or (str(s.job.out) if s.status in ("done", "skipped") else "")
        rows.append((s.job.name, s.status, f"{s.seconds:.1f}s" if s.seconds else "-", detail))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    lines = ["  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + r[3] for r in rows]
    counts = {k: sum(s.status == k for s in statuses) for k in ("done", "skipped", "failed", "cancelled")}
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do")
    return "\n".join(lines)


__all__ = ["BatchJob", "JobOutput", "JobStatus", "load_batch", "run_batch", "summary_table"]
