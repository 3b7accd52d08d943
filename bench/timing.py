"""Timing and machine facts shared by the benchmarks: interleaved medians, device sync, versions."""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np
import torch


def interleaved_medians(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each zero-argument run, after one warm-up each; the runs alternate (a, b,
    a, b, ...) with the order flipped every round, so drifting machine load hits all alike."""
    names = list(runs)
    for name in names:
        runs[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in seconds.items()}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so a timer sees all of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def versions() -> dict[str, str]:
    import diffusers
    import open_clip
    import transformers

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "diffusers": diffusers.__version__, "transformers": transformers.__version__,
           "open_clip": open_clip.__version__}
    try:
        import gsplat

        out["gsplat"] = gsplat.__version__
    except Exception:  # noqa: BLE001 - gsplat needs CUDA tooling to import fully
        out["gsplat"] = "unavailable"
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory / 2**30
        return f"{torch.cuda.get_device_name(device)} ({total:.0f} GiB)"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
