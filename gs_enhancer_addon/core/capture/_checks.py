"""What every camera reader guarantees: cameras that pass core.cameras.check_cameras, or an InputError.

A malformed file must never surface as a Python error (a string where a number belongs, a number
where a list belongs, a truncated binary record): `checked_reader` turns those into an InputError
naming the file, and validates what the reader returned, so one rule covers every format.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from ..cameras import check_cameras
from ..errors import InputError

# What a parser raises on data of the wrong type or shape (never a bug of ours on good data).
_MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, struct.error,
              np.linalg.LinAlgError, UnicodeDecodeError)


def checked_reader(read):
    """Decorate `read(path, ...) -> list[Camera]`: malformed data and unusable cameras become InputErrors."""

    @functools.wraps(read)
    def wrapper(path, *args, **kwargs):
        name = Path(path).name or str(path)
        try:
            cameras = read(path, *args, **kwargs)
        except InputError:
            raise
        except _MALFORMED as exc:
            raise InputError(f"{name}: the camera data is malformed ({type(exc).__name__}: {exc}).") from None
        if not cameras:
            raise InputError(f"{name}: the file holds no cameras.")
        check_cameras(cameras, name)
        return cameras

    return wrapper
