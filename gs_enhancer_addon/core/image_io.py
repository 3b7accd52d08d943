"""Reading and writing 8-bit RGB images (reference photos, previews, saved frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError


def load_image(path: str | Path, width: int, height: int) -> np.ndarray:  # [H, W, 3] float32 in [0, 1]
    """A photo as RGB, resized to (width, height)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise InputError(f"Image {path} cannot be read ({exc}); fix the path or remove it.") from None


def save_png(image: np.ndarray, path: str | Path) -> None:  # image [H, W, 3] float in [0, 1]
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)).save(path, format="PNG")
