"""Which torch devices a job runs on, and what device failures mean to a user: one rule for every stage.

The job resolves the user's choice once (`resolve_devices`) and hands each stage explicit
`torch.device`s through its StageContext; no stage picks a device on its own.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from .errors import DeviceError

# What to lower, per stage, when the GPU runs out of memory (shown to the user).
_OUT_OF_MEMORY_ADVICE = {
    "render": "render fewer or smaller views (lower the render resolution)",
    "enhance": "lower the resolution or the views per segment, or use offload=\"model\" and a smaller decode chunk",
    "stylize": "lower the resolution or use the Fast preset",
    "refine": "lower the render resolution, or close other programs using the GPU",
}


def resolve_devices(spec: str | torch.device = "auto") -> list[torch.device]:
    """"auto": the first CUDA GPU when there is one, else the CPU; "all": every visible GPU (the
    enhancer's windows spread over them: core/windows.py), else the CPU; "cpu"; "cuda" (the current
    GPU); "cuda:N"; or several GPUs as "cuda:0,1". A CUDA request that cannot be met is a DeviceError."""
    text = str(spec).strip().lower()
    if text == "auto":
        return [_indexed(torch.device("cuda" if torch.cuda.is_available() else "cpu"))]
    if text == "all":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [torch.device(f"cuda:{i}") for i in range(count)] or [torch.device("cpu")]
    if text.startswith("cuda:") and "," in text:
        names = [f"cuda:{i.strip()}" for i in text[len("cuda:"):].split(",")]
    else:
        names = [text]
    try:
        devices = [torch.device(n) for n in names]
    except RuntimeError as exc:
        raise DeviceError(f"'{spec}' is not a device; use auto, all, cpu, cuda, cuda:N or cuda:0,1.") from exc
    for device in devices:
        _check_usable(device, spec)
    devices = [_indexed(d) for d in devices]
    if len(set(devices)) != len(devices):
        raise DeviceError(f"'{spec}' names a device twice.")
    return devices


def _indexed(device: torch.device) -> torch.device:
    """"cuda" as the GPU it means now ("cuda:0"), so that one GPU has one name (model cache keys)."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """One device, by the same rules (the training commands, which run on one device)."""
    devices = resolve_devices(spec)
    if len(devices) > 1:
        raise DeviceError(f"'{spec}' names several devices; this command runs on one.")
    return devices[0]


def _check_usable(device: torch.device, spec) -> None:
    if device.type == "cpu":
        return
    if device.type != "cuda":
        raise DeviceError(f"'{spec}': only CPU and CUDA devices are supported.")
    if not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is usable here; choose the CPU device.")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"'{spec}': there is no GPU {device.index} (this computer has "
                          f"{torch.cuda.device_count()}).")


@contextmanager
def translate_device_errors(stage: str) -> Iterator[None]:
    """Turn device failures inside `stage` ("render", "enhance", "stylize", "refine") into a
    DeviceError that says what happened and what to lower; everything else passes through."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        advice = _OUT_OF_MEMORY_ADVICE.get(stage, "use smaller settings")
        raise DeviceError(f"The GPU ran out of memory during the {stage} stage; {advice}.") from exc
    except RuntimeError as exc:
        text = str(exc)
        if "no kernel image is available" in text or "CUDA error: invalid device function" in text:
            raise DeviceError("This GPU is not supported by the installed PyTorch build (no CUDA kernel for "
                              "its architecture); install a PyTorch build for this GPU.") from exc
        if "CUDA out of memory" in text:  # raised as a plain RuntimeError by some extensions
            advice = _OUT_OF_MEMORY_ADVICE.get(stage, "use smaller settings")
            raise DeviceError(f"The GPU ran out of memory during the {stage} stage; {advice}.") from exc
        raise
