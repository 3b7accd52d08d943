"""Checks every splat reader applies to what it decoded, and the atomic-write helper."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError, SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy


def finish(scene: GaussianScene, path: str | Path, nonfinite: NonFinitePolicy) -> GaussianScene:
    """Refuse empty files and apply the NaN/Inf policy: error (default), drop or keep."""
    if len(scene) == 0:
        raise SplatFileError(path, "the file contains no splats.")
    keep = nonfinite_keep_mask(scene.nonfinite_mask(), path, nonfinite)
    if keep is None:
        return scene
    kept = scene.subset(keep)
    kept.antialiased = scene.antialiased
    return kept


def check_writable(scene: GaussianScene) -> None:
    """Before writing any splat format: a well-formed scene (NaN/Inf allowed) with splats in it."""
    scene.validate(allow_nonfinite=True)
    if len(scene) == 0:
        raise InputError("There are no splats to write.")


def nonfinite_keep_mask(bad: np.ndarray, path: str | Path, nonfinite: NonFinitePolicy) -> np.ndarray | None:
    """Which splats survive the NaN/Inf policy (None: all of them); `bad` [N] marks invalid ones."""
    if nonfinite not in ("error", "drop", "keep"):
        raise ValueError(f"nonfinite must be 'error', 'drop' or 'keep', got {nonfinite!r}")
    count = int(np.count_nonzero(bad))
    if count == 0 or nonfinite == "keep":
        return None
    if nonfinite == "error":
        raise SplatFileError(
            path,
            f"{count} of {len(bad)} splats contain NaN or infinite values. "
            "Drop them on loading: the importer's 'Drop Invalid Splats' option, or --drop-invalid on the "
            "command line.",
        )
    if count == len(bad):
        raise SplatFileError(path, f"all {count} splats contain NaN or infinite values; nothing is left to load.")
    return ~bad


def file_size(path: str | Path) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        raise SplatFileError(path, "the file does not exist.") from None
    except OSError as exc:
        raise SplatFileError(path, f"the file cannot be read ({exc.strerror or exc}).") from None


@contextmanager
def open_for_reading(path: str | Path):
    """open(path, 'rb') with OS errors turned into SplatFileError."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise SplatFileError(path, "the file does not exist.") from None
    except IsADirectoryError:
        raise SplatFileError(path, "this is a folder, not a splat file.") from None
    except OSError as exc:
        raise SplatFileError(path, f"the file cannot be read ({exc.strerror or exc}).") from None
    with f:
        yield f


def read_whole_file(path: str | Path) -> bytes:
    """Every byte of `path`, SplatFileError if it cannot be read or changes size while it is read."""
    size = file_size(path)
    with open_for_reading(path) as f:
        data = f.read()
    if len(data) != size:
        raise SplatFileError(path, "the file changed or ended while it was read.")
    return data


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def current_umask() -> int:
    """The process umask, read once at import: reading it means setting it, which would race with
    other threads creating files (Blender's main thread while a job writes in the background)."""
    return _UMASK


def temporary_beside(path: Path) -> Path:
    """A new empty file beside `path` (hidden, `.part` plus the same extension) with the usual
    permissions (mkstemp makes 0600); OSError as the OS raised it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())
    return Path(tmp)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path` (same extension); it replaces `path` only if the block
    succeeds, so a failed or cancelled write never leaves a half-written file behind."""
    path = Path(path)
    try:
        tmp = temporary_beside(path)
    except OSError as exc:
        raise SplatFileError(path, f"cannot write into {path.parent} ({describe_write_error(exc, path)}).") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise SplatFileError(path, f"writing failed ({describe_write_error(exc, path)}).") from None
        raise


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def describe_write_error(exc: OSError, path: str | Path) -> str:
    """An OS write failure in words: a full disk says so (numpy's short write reports only
    "N requested and M written", without an errno), anything else its OS message."""
    folder = Path(path).parent
    if exc.errno in _DISK_FULL or "requested and" in str(exc):
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        left = f"{free / 2**20:.1f} MiB left in " if free is not None else ""
        return f"the disk is full: {left}{folder}; free some space or write somewhere else"
    return exc.strerror or str(exc)


@contextmanager
def atomic_write(path: str | Path):
    """atomic_path, as an open binary file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
