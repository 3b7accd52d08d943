"""Errors a user can cause, as one small hierarchy.

Every error raised on purpose by the add-on derives from `GsEnhancerError`, so the Blender
boundary (operators, the runner) and the CLI can catch exactly these and show their message
as-is: each message is written for the user to act on.
"""

from __future__ import annotations

from pathlib import Path


class GsEnhancerError(Exception):
    """Base class: the message is meant for the user, verbatim."""


class InputError(GsEnhancerError, ValueError):
    """Bad input data or settings (no splat, too few cameras, wrong shapes, NaN...)."""


class SplatFileError(GsEnhancerError):
    """A splat file that cannot be read or written; carries the file and what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


class OutputError(GsEnhancerError):
    """An output that cannot be written where the user asked (bad path or extension, full disk...)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelNotAvailableError(GsEnhancerError):
    """A model that is neither cached nor downloadable now (offline, missing folder...)."""


class DeviceError(GsEnhancerError):
    """The requested compute device is not usable (no CUDA, out of memory...)."""


class Cancelled(GsEnhancerError):
    """The user cancelled; raised from inside a stage at its next cancel check."""

    def __init__(self, message: str = "Cancelled by the user."):
        super().__init__(message)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries' messages run to pages), or its type's
    name when it has none: what a one-line user message quotes."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
