"""Every output of a run, all or nothing: one writer for the CLI and the add-on.

    check_output_paths(outputs, inputs)   before any work: each path's extension, folder and
                                          clash with an input or another output
    write_outputs(outputs)                write each to a temporary beside its target, verify it
                                          (size, readable back), then publish them all together;
                                          on any failure (or Ctrl+C) remove every one of them

A failed run therefore leaves no output file, not even the ones that were written fine, and an
output that the disk truncated (a .blend saved "successfully" onto a full disk) is caught by its
verification instead of being renamed into place. numpy + stdlib only (Blender's Python runs it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional, Sequence

from .errors import GsEnhancerError, OutputError
from .io import WRITE_EXTENSIONS
from .io._common import describe_write_error, temporary_beside

OutputKind = Literal["splat", "image", "blend"]
EXTENSIONS: dict[str, tuple[str, ...]] = {"splat": WRITE_EXTENSIONS, "image": (".png",), "blend": (".blend",)}


@dataclass
class Output:
    path: Path
    kind: OutputKind
    write: Callable[[Path], None]  # writes the complete file at the given (temporary) path


def check_output_paths(outputs: Sequence[tuple[Path, OutputKind]], inputs: Sequence[Path] = ()) -> None:
    """OutputError for the first output that cannot be written: a wrong extension, a folder or an
    input file in its place, a parent that is a file or not writable, or two outputs on one path.
    Creates nothing."""
    seen: dict[str, Path] = {}
    sources = {_identity(Path(p)) for p in inputs if Path(p).exists()}
    for path, kind in outputs:
        path = Path(path)
        allowed = EXTENSIONS[kind]
        if path.suffix.lower() not in allowed:
            raise OutputError(path, f"the file must end in {' or '.join(allowed)}.")
        if path.is_dir():
            raise OutputError(path, "this is a folder; give a file name.")
        if path.exists() and _identity(path) in sources:
            raise OutputError(path, "this is an input of the run; write the output to another file.")
        key = _identity(path)
        if key in seen:
            raise OutputError(path, f"two outputs would be written to the same file ({seen[key].name}).")
        seen[key] = path
        check_output_folder(path.parent, path)


def check_output_folder(folder: Path, target: Optional[Path] = None) -> None:
    """OutputError unless `folder` is, or can be created as, a writable folder (nothing is created).
    `target`: the output file to name in the message (default: the folder)."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(target or folder, f"{probe} is a file, not a folder; choose another output location.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(target or folder, f"the folder {probe} is not writable; choose another output location.")


def write_outputs(outputs: Sequence[Output]) -> list[Path]:
    """Write, verify and publish every output together; on failure nothing of them stays on disk."""
    made_dirs: list[Path] = []
    temps: list[Path] = []
    published: list[Path] = []
    try:
        for output in outputs:
            made_dirs += _make_folders(output.path.parent)
            temp = _temporary_beside(output.path)
            temps.append(temp)
            try:
                output.write(temp)
            except OSError as exc:
                raise OutputError(output.path, f"writing failed ({describe_write_error(exc, output.path)}).") from None
            except RuntimeError as exc:  # Blender's save operator reports its I/O failures this way
                raise OutputError(output.path, f"writing failed ({str(exc).strip().splitlines()[-1]}).") from None
            finally:
                _remove_quietly(Path(f"{temp}1"))  # Blender's backup of the empty placeholder (.blend1)
            verify_output(temp, output.kind, output.path)
        for output, temp in zip(outputs, temps):
            try:
                os.replace(temp, output.path)
            except OSError as exc:
                raise OutputError(output.path, f"cannot be replaced ({describe_write_error(exc, output.path)}).") \
                    from None
            published.append(output.path)
        return [o.path for o in outputs]
    except BaseException:
        for path in [*temps, *published]:
            _remove_quietly(path)
            _remove_quietly(Path(f"{path}@"))  # Blender's own temporary while it saves a .blend
        for folder in reversed(made_dirs):
            _remove_quietly(folder, folder=True)
        raise


def verify_output(path: Path, kind: OutputKind, target: Optional[Path] = None) -> None:
    """OutputError unless the file at `path` is complete: a splat readable back with no NaN or
    infinite value, a PNG that ends in its IEND chunk, a .blend that ends in its ENDB block."""
    target = target or path
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        raise OutputError(target, "the written file is empty (is the disk full?); nothing was saved.")
    if kind == "splat":
        from .io import read_scene

        try:
            read_scene(path, nonfinite="error")
        except GsEnhancerError as exc:
            raise OutputError(target, f"the written file does not read back ({exc}); nothing was saved.") from None
    elif not _complete(path, kind):
        raise OutputError(target, "the written file is incomplete (is the disk full?); nothing was saved.")


# Where each kind of file must end: PNG's IEND chunk (+ CRC); a .blend's ENDB block header.
_PNG_SIGNATURE, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _complete(path: Path, kind: OutputKind) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
        f.seek(max(0, path.stat().st_size - 64))
        tail = f.read()
    if kind == "image":
        return head.startswith(_PNG_SIGNATURE) and tail.endswith(_PNG_END)
    if head.startswith(_ZSTD_MAGIC):  # a compressed .blend: check the whole stream decodes to its end
        return _zstd_blend_complete(path)
    return head.startswith(b"BLENDER") and b"ENDB" in tail


def _zstd_blend_complete(path: Path) -> bool:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - Blender's Python ships zstandard
        return True
    try:
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read()
    except zstandard.ZstdError:
        return False
    return data.startswith(b"BLENDER") and b"ENDB" in data[-64:]


def _identity(path: Path) -> str:
    try:
        stat = path.stat()
        return f"{stat.st_dev}:{stat.st_ino}"
    except OSError:
        return os.path.normcase(os.path.abspath(path))


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; return the ones created (outermost first)."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(path, f"cannot create the folder ({describe_write_error(exc, path)}).") from None
    return list(reversed(missing))


def _temporary_beside(path: Path) -> Path:
    try:
        return temporary_beside(path)
    except OSError as exc:
        raise OutputError(path, f"cannot write into {path.parent} ({describe_write_error(exc, path)}).") from None


def _remove_quietly(path: Path, folder: bool = False) -> None:
    try:
        path.rmdir() if folder else path.unlink()
    except OSError:
        pass
