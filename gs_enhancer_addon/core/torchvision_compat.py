"""Workaround: make torchvision importable next to a CPU-only torch build.

PyPI's torchvision wheel for Linux is built against CUDA torch. Installed beside the CPU torch
build (our development and CI machines), its compiled ops fail to load, and importing
`torchvision._meta_registrations` then raises "operator torchvision::nms does not exist". That
breaks open_clip, transformers' CLIP image processing and diffusers' SVD pipeline, which all
import torchvision. Registering an empty stand-in for that one module before the first
torchvision import lets the pure-Python parts (transforms) import; compiled ops such as nms stay
unusable, and nothing in this project calls them.

On a user's machine torch and torchvision come as a matching pair and nothing is changed:
the stand-in is installed only when torch is a CPU build and torchvision's ops cannot load.
"""

from __future__ import annotations

import importlib.util
import sys
import types

_STAND_IN = "torchvision._meta_registrations"


def torchvision_needs_stand_in() -> bool:
    """True when torch is CPU-only and the installed torchvision's compiled ops cannot load."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return False
    import torch

    if torch.version.cuda is not None or getattr(torch.version, "hip", None) is not None:
        return False
    try:
        torch.ops.load_library(_torchvision_ops_library())
    except (OSError, RuntimeError, FileNotFoundError):
        return True
    return False


def _torchvision_ops_library() -> str:
    import glob
    import os

    package_dir = os.path.dirname(importlib.util.find_spec("torchvision").origin)
    candidates = glob.glob(os.path.join(package_dir, "_C*.so")) + glob.glob(os.path.join(package_dir, "_C*.pyd"))
    if not candidates:
        raise FileNotFoundError("torchvision has no compiled ops library")
    return candidates[0]


def ensure_torchvision_importable() -> None:
    """Call before importing open_clip, transformers' CLIP classes or diffusers' SVD pipeline."""
    if torchvision_needs_stand_in():
        sys.modules.setdefault(_STAND_IN, types.ModuleType(_STAND_IN))
