"""Loaded models, kept for the next job: one object, owned by whoever runs jobs (the add-on's runner,
the CLI, a benchmark) and passed down to the stages through their StageContext.

Entries are keyed by ModelKey(backend, sources, device, dtype). Loading a model set for a backend
on a device replaces that backend's other sets on the same device (two SVD-sized UNets do not fit
one GPU), and leaves every other device alone, so one cache serves several GPUs. All methods are
thread-safe; a load runs under the lock, so two threads asking for the same key load it once.
"""

from __future__ import annotations

import gc
import threading
from typing import Callable, Hashable, NamedTuple, TypeVar

T = TypeVar("T")


class ModelKey(NamedTuple):
    backend: str  # "svd", "clipstyler", ...
    sources: Hashable  # what was loaded (a frozen sources object, or a string naming the tiny set)
    device: str  # str(torch.device)
    dtype: str  # "float32", "bfloat16", ... ("" when the backend picks per model)


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[ModelKey, object] = {}

    def get(self, key: ModelKey, load: Callable[[], T]) -> T:
        """The cached value for `key`, or `load()`'s result, cached. Before loading, the same
        backend's other entries on the same device are dropped."""
        with self._lock:
            if key in self._entries:
                return self._entries[key]  # type: ignore[return-value]
            stale = [k for k in self._entries if k.backend == key.backend and k.device == key.device]
            if stale:
                self._drop(stale)
            value = load()
            self._entries[key] = value
            return value

    def put(self, key: ModelKey, value: object) -> None:
        """Place an already built model set (benchmarks: full-size models with random weights)."""
        with self._lock:
            self._entries[key] = value

    def keys(self) -> list[ModelKey]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def release(self) -> int:
        """Drop every entry and return GPU memory to the driver; returns how many were dropped."""
        with self._lock:
            count = len(self._entries)
            self._drop(list(self._entries))
            return count

    def _drop(self, keys: list[ModelKey]) -> None:
        for key in keys:
            del self._entries[key]
        free_device_memory()


def free_device_memory() -> None:
    """Collect garbage and hand cached CUDA memory back to the driver (no-op without torch or CUDA)."""
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
