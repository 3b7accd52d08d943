"""Ray as the engine for scale-out (an optional extra: `pip install .[cluster]`): one actor per GPU
of the cluster (or N one-CPU actors where it has none), each with its own ModelCache, so a model is
loaded once per actor and kept for every later window or job given to it. core/windows.py's
dispatch loop hands them items; this module is the Ray side of that loop.

    cluster = connect("auto")            # this machine's Ray instance, started if none runs
    cluster = connect("10.0.0.1:6379")   # join a cluster started with `ray start --head`
    EnhanceJob(config, cluster=cluster)  # the enhancer's windows run on the actors
    cluster.shutdown()

Progress and cancel go through one small signal actor: workers report each item's fraction to it
(at most every REPORT_SECONDS) and poll its cancel flag at most every CANCEL_POLL_SECONDS from the
pipeline's cancel callback; the driver reads the fractions and sets the flag. An actor that dies
(killed, out of host memory) fails its item with a RayActorError: the item goes to another actor
and a fresh actor takes the dead one's place (up to `replacements`).

Ray is imported only when a cluster is connected: without --ray nothing here runs.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from typing import Any, Optional

from .errors import DeviceError, InputError, first_line
from .model_cache import ModelCache
from .stages import StageContext
from .windows import ItemProcessor, run_item

CANCEL_POLL_SECONDS = 0.2
REPORT_SECONDS = 0.2


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: install the cluster extra (pip install 'gs-enhancer-addon[cluster]').") \
            from None
    return ray


def connect(address: str = "auto", *, workers: Optional[int] = None, replacements: Optional[int] = None,
            **init_options) -> "RayCluster":
    """`address`: "auto" (ray.init(): the RAY_ADDRESS cluster, else the one `ray start` started on
    this machine, else a new local instance) or a cluster's HOST:PORT / ray://HOST:PORT. Reuses a
    Ray connection this process already has. `workers`: how many actors (default: one per GPU in
    the cluster, or one per CPU where it has no GPU)."""
    ray = _ray()
    owned = not ray.is_initialized()
    if owned:
        options = {"include_dashboard": False, "log_to_driver": True, **init_options}
        try:
            ray.init(address=None if address == "auto" else address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, or a bad address
            raise DeviceError(f"Ray could not connect to '{address}' ({first_line(exc)}); start the cluster with "
                              "'ray start --head' or check the address.") from None
    try:
        cluster = RayCluster(workers=workers, replacements=replacements)
    except BaseException:
        if owned:  # leave no Ray instance behind that this call started
            ray.shutdown()
        raise
    cluster.owns_connection = owned
    return cluster


class SignalBoard:
    """The one place workers and the driver meet: each item's latest progress, and the cancel flag.
    A Ray actor (num_cpus=0); `run` numbers each dispatch so that late reports of an old one are
    dropped."""

    def __init__(self) -> None:
        self.run, self.cancelled, self.fractions = 0, False, {}

    def begin(self, run: int) -> None:
        self.run, self.cancelled, self.fractions = run, False, {}

    def cancel(self) -> None:
        self.cancelled = True

    def is_cancelled(self, run: int) -> bool:
        return self.cancelled or run != self.run

    def report(self, run: int, index: int, fraction: float, message: str) -> None:
        if run == self.run:
            self.fractions[index] = (fraction, message)

    def done(self, run: int, index: int) -> None:
        if run == self.run:
            self.fractions.pop(index, None)

    def snapshot(self) -> dict:
        return dict(self.fractions)


class StageWorker:
    """A Ray actor on one GPU (or one CPU): its own ModelCache, kept for its lifetime."""

    def __init__(self) -> None:
        import ray
        import torch

        resources = ray.get_runtime_context().get_assigned_resources()
        # Ray shows an actor only its own GPU (CUDA_VISIBLE_DEVICES), as cuda:0.
        self.device = torch.device("cuda" if resources.get("GPU", 0) > 0 else "cpu")
        if self.device.type == "cpu":  # as many threads as the CPUs Ray gave it, for reproducible sums
            torch.set_num_threads(max(1, int(resources.get("CPU", 1))))
        self.cache = ModelCache()

    def pid(self) -> int:
        return os.getpid()

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, processor: ItemProcessor, run: int, index: int, payload: Any, board) -> Any:
        import ray

        last_report = [0.0]
        last_poll, cancelled = [0.0], [False]

        def progress(fraction: float, message: str = "") -> None:
            now = time.monotonic()
            if now - last_report[0] >= REPORT_SECONDS or fraction >= 1.0:
                last_report[0] = now
                board.report.remote(run, index, fraction, message)  # fire and forget

        def cancel() -> bool:
            now = time.monotonic()
            if not cancelled[0] and now - last_poll[0] >= CANCEL_POLL_SECONDS:
                last_poll[0] = now
                cancelled[0] = ray.get(board.is_cancelled.remote(run))
            return cancelled[0]

        try:
            return run_item(processor, payload, StageContext([self.device], self.cache, progress, cancel))
        finally:
            board.done.remote(run, index)


class RayCluster:
    """The connected cluster and its worker actors (started on first use, kept for later jobs)."""

    def __init__(self, workers: Optional[int] = None, replacements: Optional[int] = None):
        if workers is not None and workers < 1:
            raise InputError("--workers must be at least 1.")
        ray = _ray()
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.size = workers or self.gpus or max(1, int(resources.get("CPU", 1)))  # one GPU or one CPU each
        cpus = int(resources.get("CPU", 0))
        if self.gpus and self.size > self.gpus:
            raise DeviceError(f"{self.size} workers asked, but the cluster has {self.gpus} GPUs (one per worker).")
        if not self.gpus and self.size > cpus:
            raise DeviceError(f"{self.size} workers asked, but the cluster has {cpus} CPUs (one per worker).")
        self.replacements = self.size if replacements is None else replacements
        self.owns_connection = False  # connect() made the Ray connection: shutdown() ends it
        self._pool: Optional[RayPool] = None

    def pool(self) -> "RayPool":
        if self._pool is None:
            self._pool = RayPool(self)
        return self._pool

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker actors (tests kill one)."""
        ray = _ray()
        return ray.get([actor.pid.remote() for actor in self.pool().workers()])

    def shutdown(self, *, disconnect: bool = True) -> None:
        """Stop the actors (their models go with them) and leave the cluster if connect() joined
        it (a connection the caller made stays)."""
        ray = _ray()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if disconnect and self.owns_connection and ray.is_initialized():
            ray.shutdown()

    def describe(self) -> str:
        kind = "GPU" if self.gpus else "CPU"
        return f"Ray cluster: {self.size} {kind} worker{'s' if self.size != 1 else ''}"


class RayPool:
    """core.windows.WorkerPool over StageWorker actors and one SignalBoard actor."""

    def __init__(self, cluster: RayCluster):
        ray = _ray()
        self._ray = ray
        self._cluster = cluster
        self._worker_class = ray.remote(StageWorker).options(
            num_gpus=1 if cluster.gpus else 0, num_cpus=1, max_restarts=0)
        self._board = ray.remote(SignalBoard).options(num_cpus=0).remote()
        self._actors = [self._worker_class.remote() for _ in range(cluster.size)]
        self._replacements_left = cluster.replacements
        self._run = 0
        self._last_snapshot = 0.0
        self._snapshot: dict = {}

    def workers(self) -> list:
        return list(self._actors)

    def begin(self) -> None:
        self._run += 1
        self._ray.get(self._board.begin.remote(self._run))
        self._snapshot = {}

    def submit(self, worker, processor: ItemProcessor, index: int, payload: Any) -> Future:
        return worker.run.remote(processor, self._run, index, payload, self._board).future()

    def lost(self, worker, exc: BaseException) -> Optional[str]:
        exceptions = self._ray.exceptions
        if isinstance(exc, (exceptions.RayActorError, exceptions.WorkerCrashedError)):
            if worker in self._actors:
                self._actors.remove(worker)
            return f"its Ray worker died ({first_line(exc)})"
        return None

    def replace(self, worker) -> Optional[Any]:
        if self._replacements_left <= 0:
            return None
        self._replacements_left -= 1
        actor = self._worker_class.remote()
        self._actors.append(actor)
        return actor

    def progress(self) -> dict:
        now = time.monotonic()
        if now - self._last_snapshot >= REPORT_SECONDS:
            self._last_snapshot = now
            self._snapshot = self._ray.get(self._board.snapshot.remote())
        return self._snapshot

    def cancel(self) -> None:
        self._board.cancel.remote()

    def close(self) -> None:
        for actor in self._actors + [self._board]:
            self._ray.kill(actor)
        self._actors = []


__all__ = ["RayCluster", "RayPool", "connect"]
