"""Image reading and writing (core/image_io.py): the one reader that photos and training frames use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gs_enhancer_addon.core.enhance.data import load_dataset, save_window
from gs_enhancer_addon.core.errors import InputError
from gs_enhancer_addon.core.image_io import load_image, read_image, save_png


def test_png_round_trip_drops_alpha_and_resizes_on_request(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10  # red, almost transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (6, 8, 3) and image.dtype == np.float32
    assert np.array_equal(image[..., 0], np.ones((6, 8))) and not image[..., 1:].any()
    assert load_image(tmp_path / "a.png", 4, 3).shape == (3, 4, 3)
    save_png(image, tmp_path / "b.png")
    assert np.array_equal(read_image(tmp_path / "b.png"), image)


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_unreadable_files_raise_input_error_naming_the_file(tmp_path, content):
    (tmp_path / "broken.png").write_bytes(content)
    with pytest.raises(InputError, match="broken.png"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(InputError, match="missing.png"):
        load_image(tmp_path / "missing.png", 4, 4)


def test_a_broken_training_frame_is_an_input_error_not_a_pil_crash(tmp_path):
    """Training data is read through the same reader: a damaged frame gets the clear error too."""
    frames = torch.rand(3, 3, 8, 8)
    folder = save_window(tmp_path, "w0", frames, frames)
    assert len(load_dataset(tmp_path)) == 1
    (folder / "input" / "001.png").write_bytes(b"truncated")
    with pytest.raises(InputError, match="001.png"):
        load_dataset(tmp_path)
