"""Training data for the enhancer and the spatial-temporal decoder: a documented folder format.

    <dataset>/
      <window name>/              one training window; any name, windows are used in sorted order
        input/000.png 001.png ... the window the enhancer sees: frame 0 and the last frame are the
                                  reference views (real photos), the middle frames degraded renders
                                  (e.g. renders of a 3DGS fitted to few views)
        target/000.png ...        ground truth for the same views: same count, same size
        cameras.json              optional: one camera per frame, frame order (core/capture/camera_json.py
                                  format); with it the enhancer's pose conditioning is trained too

PNG or JPEG, RGB (alpha is dropped), 8 bit. Frames are sorted by file name. All windows may differ
in size and length; within a window every frame has the same size. Folders whose name starts with
"." are skipped (unfinished windows being written).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..cameras import Camera
from ..errors import InputError
from ..image_io import read_image, save_png

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CAMERAS_FILE = "cameras.json"


@dataclass
class WindowPair:
    name: str
    inputs: Tensor  # [F, 3, H, W] in [0, 1]: reference, degraded renders, reference
    targets: Tensor  # [F, 3, H, W] in [0, 1]: ground truth
    cameras: Optional[list[Camera]] = None  # one per frame (cameras.json), for pose conditioning


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
    for window in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (window / "input").is_dir() or not (window / "target").is_dir():
            raise InputError(f"Window {window} needs 'input' and 'target' folders.")
        inputs, targets = _read_frames(window / "input"), _read_frames(window / "target")
        if inputs.shape != targets.shape or inputs.shape[0] < 3:
            raise InputError(f"Window {window.name}: input and target need the same 3+ frames of one size.")
        pairs.append(WindowPair(window.name, inputs, targets, _read_cameras(window, inputs.shape[0])))
    if not pairs:
        raise InputError(f"The dataset folder {root} has no window folders.")
    return pairs


def _read_cameras(window: Path, frames: int) -> Optional[list[Camera]]:
    from ..capture import read_cameras_json

    if not (window / CAMERAS_FILE).is_file():
        return None
    cameras = read_cameras_json(window / CAMERAS_FILE)
    if len(cameras) != frames:
        raise InputError(f"Window {window.name}: {CAMERAS_FILE} has {len(cameras)} cameras for {frames} frames.")
    return cameras


def save_window(root: str | Path, name: str, inputs: Tensor, targets: Tensor,
                cameras: Optional[Sequence[Camera]] = None) -> Path:
    """Write one window (two [F, 3, H, W] tensors in [0, 1], optionally its F cameras) in the dataset format."""
    from ..capture import write_cameras_json

    folder = Path(root) / name
    for sub, frames in (("input", inputs), ("target", targets)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(frames.permute(0, 2, 3, 1).numpy()):
            save_png(image, folder / sub / f"{i:03d}.png")
    if cameras is not None:
        write_cameras_json([replace(c, image_path=None) for c in cameras], folder / CAMERAS_FILE)
    return folder
