"""Training data for the enhancer and the spatial-temporal decoder: a documented folder format.

    <dataset>/
      <window name>/              one training window; any name, windows are used in sorted order
        input/000.png 001.png ... the window the enhancer sees: frame 0 and the last frame are the
                                  reference views (real photos), the middle frames degraded renders
                                  (e.g. renders of a 3DGS fitted to few views)
        target/000.png ...        ground truth for the same views: same count, same size

PNG or JPEG, RGB (alpha is dropped), 8 bit. Frames are sorted by file name. All windows may differ
in size and length; within a window every frame has the same size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..image_io import read_image, save_png

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class WindowPair:
    name: str
    inputs: Tensor  # [F, 3, H, W] in [0, 1]: reference, degraded renders, reference
    targets: Tensor  # [F, 3, H, W] in [0, 1]: ground truth


def _read_frames(folder: Path) -> Tensor:  # -> [F, 3, H, W]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"No PNG/JPEG frames in {folder}.")
    arrays = [read_image(p) for p in files]
    if len({a.shape for a in arrays}) > 1:
        raise InputError(f"Frames in {folder} have different sizes.")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_dataset(root: str | Path) -> list[WindowPair]:
    """Read every window of a dataset folder (format in the module doc); InputError if malformed."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"Dataset folder not found: {root}.")
    pairs = []
    for window in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (window / "input").is_dir() or not (window / "target").is_dir():
            raise InputError(f"Window {window} needs 'input' and 'target' folders.")
        inputs, targets = _read_frames(window / "input"), _read_frames(window / "target")
        if inputs.shape != targets.shape or inputs.shape[0] < 3:
            raise InputError(f"Window {window.name}: input and target need the same 3+ frames of one size.")
        pairs.append(WindowPair(window.name, inputs, targets))
    if not pairs:
        raise InputError(f"The dataset folder {root} has no window folders.")
    return pairs


def save_window(root: str | Path, name: str, inputs: Tensor, targets: Tensor) -> Path:
    """Write one window (two [F, 3, H, W] tensors in [0, 1]) in the dataset format."""
    folder = Path(root) / name
    for sub, frames in (("input", inputs), ("target", targets)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(frames.permute(0, 2, 3, 1).numpy()):
            save_png(image, folder / sub / f"{i:03d}.png")
    return folder
