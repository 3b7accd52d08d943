"""Which torch device a stage runs on: one rule for every stage."""

from __future__ import annotations

import torch

from .errors import DeviceError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """"auto": the CUDA GPU when there is one, else the CPU; "cuda" without a usable GPU is a
    DeviceError; anything else is taken as a torch device name."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is usable here; choose the CPU device.")
    return device
