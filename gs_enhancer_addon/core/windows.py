"""Independent work items (the windows of one job, or whole jobs of a batch) spread over workers:
one worker per device on this machine, or Ray actors over a cluster (core/cluster.py), behind one
dispatch loop.

The loop hands each idle worker the next item, merges every worker's progress into the caller's
one progress callback (thread-safe: the callback is only ever called from the caller's thread),
forwards cancel to every worker, and when a worker is lost (a Ray actor killed or out of memory, a
GPU that ran out of memory) hands its item to another worker; if no worker is left, the run fails
with WorkersLostError naming the item. Results are placed by item index, so the result never
depends on which worker ran what: an item must be deterministic in its inputs (the SVD backend
seeds every window with EnhancerConfig.seed, never per worker).

This module imports neither torch nor ray.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

from .errors import Cancelled, DeviceError, GsEnhancerError
from .model_cache import ModelCache
from .progress import CancelFn, ProgressFn, report
from .stages import StageContext

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_ATTEMPTS = 3  # an item that has lost this many workers fails the run (it may be what kills them)
POLL_SECONDS = 0.1  # how often the loop checks cancel and merges progress
# Loading is not thread-safe: transformers/accelerate build models under process-wide patches
# (empty-weight init on the meta device), so two threads loading at once get meta tensors.
_LOAD_LOCK = threading.Lock()


class WorkersLostError(GsEnhancerError):
    """Every worker that could run an item is gone (killed, out of memory): the run cannot finish."""


class ItemProcessor(Protocol):
    """What a worker runs: loads its model once per device (through ctx.cache), then any items.
    Must pickle (Ray sends it to the actors) and be deterministic in its inputs."""

    def load(self, ctx: StageContext) -> Any:
        """The model(s) for ctx.device, from ctx.cache or loaded into it."""

    def process(self, model: Any, payload: Any, ctx: StageContext) -> Any:
        """One item; reports through ctx.progress, checks ctx.cancel at least once per step."""


def run_item(processor: ItemProcessor, payload: Any, ctx: StageContext) -> Any:
    """The worker side, the same on every kind of worker."""
    from .devices import translate_device_errors

    with translate_device_errors("enhance"):
        with _LOAD_LOCK:  # not part of the item's fraction
            model = processor.load(replace(ctx, progress=None))
        return processor.process(model, payload, ctx)


@dataclass
class _Item:
    index: int
    payload: Any
    attempts: int = 0
    lost_to: list[str] = field(default_factory=list)  # why earlier workers were lost


class WorkerPool(Protocol):
    """Workers the dispatch loop hands items to (LocalPool here, RayPool in core/cluster.py)."""

    def workers(self) -> list[Any]:
        """Handles of the workers ready now (started on first call)."""

    def submit(self, worker: Any, processor: ItemProcessor, index: int, payload: Any) -> Future:
        """Run one item on `worker`; the future holds its result or its exception."""

    def lost(self, worker: Any, exc: BaseException) -> Optional[str]:
        """Why `worker` is gone when `exc` means it cannot take more items (else None)."""

    def replace(self, worker: Any) -> Optional[Any]:
        """A new worker in place of a lost one, or None."""

    def progress(self) -> dict[int, tuple[float, str]]:
        """Each running item's latest (fraction, message)."""

    def cancel(self) -> None:
        """Ask every worker to stop at its next step."""

    def begin(self) -> None:
        """Forget the previous run's progress and cancel flag."""


def dispatch(pool: WorkerPool, processor: ItemProcessor, payloads: Sequence[Any], *,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
             label: str = "item", on_result: Optional[Callable[[int, Any], None]] = None) -> list[Any]:
    """Run every payload on the pool's workers; -> results in payload order. `on_result(i, r)` is
    called (in this thread) as each finishes. Raises Cancelled, WorkersLostError or the first
    error an item raised (after asking the other workers to stop)."""
    pool.begin()
    pending = deque(_Item(i, p) for i, p in enumerate(payloads))
    results: list[Any] = [None] * len(pending)
    done = 0
    idle = list(pool.workers())
    running: dict[Future, tuple[_Item, Any]] = {}
    failure: Optional[BaseException] = None
    stopping = False
    merged = _MergedProgress(progress, len(results), label, len(idle))
    while pending or running:
        if failure is None and cancel is not None and cancel():
            failure = Cancelled()
        if failure is not None and not running:
            break
        if failure is None:
            while pending and idle:
                item, worker = pending.popleft(), idle.pop(0)
                running[pool.submit(worker, processor, item.index, item.payload)] = (item, worker)
            if not running:  # items left, nobody to run them
                failure = WorkersLostError(f"No worker is available to run the {label}s.")
                continue
        if failure is not None and not stopping:
            stopping = True
            pool.cancel()
            pending.clear()
        finished, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in finished:
            item, worker = running.pop(future)
            exc = future.exception()
            if exc is None:
                results[item.index] = future.result()
                done += 1
                idle.append(worker)
                if on_result is not None and failure is None:
                    on_result(item.index, results[item.index])
                continue
            why = pool.lost(worker, exc)
            if why is None or failure is not None:
                failure = failure or _unwrap(exc)
                continue
            item.attempts += 1
            item.lost_to.append(why)
            spare = pool.replace(worker)
            if spare is not None:
                idle.append(spare)
            if item.attempts >= MAX_ATTEMPTS or not (idle or running):
                failure = WorkersLostError(
                    f"{label} {item.index + 1} of {len(results)} could not finish: "
                    + "; ".join(item.lost_to) + ("" if idle or running else "; no worker is left to retry it."))
            else:
                pending.appendleft(item)
        in_flight = {item.index for item, _ in running.values()}  # a finished item counts once
        merged.update(done, {i: p for i, p in pool.progress().items() if i in in_flight}, len(idle) + len(running))
    if failure is not None:
        raise failure
    merged.update(done, {}, 0)
    return results


def _unwrap(exc: BaseException) -> BaseException:
    """Ray wraps an item's own exception (RayTaskError): the user should see ours (Cancelled,
    DeviceError, InputError...) and its words."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


class _MergedProgress:
    """Every worker's progress as one fraction: finished items count 1, running ones their own
    fraction; the bar's ETA (core.progress.StagedProgress) follows from the merged rate."""

    def __init__(self, progress: Optional[ProgressFn], total: int, label: str, workers: int):
        self.progress, self.total, self.label = progress, max(1, total), label
        self._last = -1.0
        report(progress, 0.0, f"{total} {label}s on {workers} worker{'s' if workers != 1 else ''}")

    def update(self, done: int, running: dict[int, tuple[float, str]], workers: int) -> None:
        fraction = min(1.0, (done + sum(min(1.0, f) for f, _ in running.values())) / self.total)
        if fraction > self._last:
            self._last = fraction
            report(self.progress, fraction, f"{done}/{self.total} {self.label}s done on {workers} "
                                            f"worker{'s' if workers != 1 else ''}")


# -- one worker per device on this machine -------------------------------------------------------

class LocalPool:
    """One thread per device (threads: CUDA kernels release the GIL, and the workers share the
    caller's ModelCache, keyed by device, so the models stay loaded for the next job). A device
    named twice (tests: two CPU workers) gets a private cache for its second worker, since a
    cached pipeline is not shared between threads. A worker whose device fails (DeviceError, e.g.
    out of memory) is retired and its item goes to another device."""

    def __init__(self, devices: Sequence["torch.device"], cache: ModelCache):
        self._caches = []
        seen = set()
        for device in devices:
            self._caches.append(cache if str(device) not in seen else ModelCache())
            seen.add(str(device))
        self._devices = list(devices)
        self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"gse-{d}") for d in self._devices]
        self._lock = threading.Lock()
        self._progress: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()

    def workers(self) -> list[int]:
        return list(range(len(self._devices)))

    def begin(self) -> None:
        self._stop.clear()
        with self._lock:
            self._progress.clear()

    def submit(self, worker: int, processor: ItemProcessor, index: int, payload: Any) -> Future:
        def item_progress(fraction: float, message: str = "") -> None:
            with self._lock:
                self._progress[index] = (fraction, message)

        ctx = StageContext([self._devices[worker]], self._caches[worker], item_progress, self._stop.is_set)

        def run() -> Any:
            try:
                return run_item(processor, payload, ctx)
            finally:
                with self._lock:
                    self._progress.pop(index, None)

        return self._executors[worker].submit(run)

    def lost(self, worker: int, exc: BaseException) -> Optional[str]:
        if isinstance(exc, DeviceError):
            return f"{self._devices[worker]} failed ({exc})"
        return None

    def replace(self, worker: int) -> None:
        return None

    def progress(self) -> dict[int, tuple[float, str]]:
        with self._lock:
            return dict(self._progress)

    def cancel(self) -> None:
        self._stop.set()

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)


# -- the windows of one job ----------------------------------------------------------------------

def map_windows(processor: ItemProcessor, payloads: Sequence[Any], ctx: StageContext) -> list[Any]:
    """Process the windows of one job: on ctx.cluster's Ray actors when the job runs on Ray, on
    one worker per device when ctx.devices names several, else one after another on ctx.device
    (the single-process path, in the caller's thread). Same results on every path."""
    if ctx.cluster is not None:
        return dispatch(ctx.cluster.pool(), processor, payloads, progress=ctx.progress, cancel=ctx.cancel,
                        label="window")
    if len(ctx.devices) > 1:
        pool = LocalPool(ctx.devices, ctx.cache)
        try:
            return dispatch(pool, processor, payloads, progress=ctx.progress, cancel=ctx.cancel, label="window")
        finally:
            pool.cancel()
            pool.close()
    from .progress import sub_progress

    model = processor.load(replace(ctx, progress=sub_progress(ctx.progress, 0.0, 0.1)))
    results = []
    for w, payload in enumerate(payloads):
        window_progress = sub_progress(ctx.progress, 0.1 + 0.9 * w / len(payloads),
                                       0.1 + 0.9 * (w + 1) / len(payloads), prefix=f"window {w + 1}/{len(payloads)}")
        results.append(processor.process(model, payload, replace(ctx, progress=window_progress)))
    return results


__all__ = ["ItemProcessor", "LocalPool", "WorkerPool", "WorkersLostError", "dispatch", "map_windows", "run_item"]
