"""Reading and writing 8-bit RGB images (reference photos, training frames, previews, saved frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .errors import InputError


def read_image(path: str | Path) -> np.ndarray:  # [H, W, 3] float32 in [0, 1]
    """A PNG/JPEG (any mode PIL reads) as RGB at its own size; alpha is dropped."""
    return _read_rgb(path, None)


def load_image(path: str | Path, width: int, height: int) -> np.ndarray:  # [H, W, 3] float32 in [0, 1]
    """A photo as RGB, resized to (width, height) with Lanczos filtering."""
    return _read_rgb(path, (width, height))


def _read_rgb(path: str | Path, size: Optional[tuple[int, int]]) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None:
                image = image.resize(size, Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise InputError(f"Image {path} cannot be read ({exc}); fix the path or remove it.") from None


def save_png(image: np.ndarray, path: str | Path) -> None:  # image [H, W, 3] float in [0, 1]
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)).save(path, format="PNG")
