"""Progress and cancel callbacks shared by every long-running stage.

Stages take two optional callables:
  progress(fraction, message) -- fraction in [0, 1] within that stage;
  cancel() -> bool            -- True once the user asked to stop.
A stage calls `check_cancel(cancel)` at least once per step (diffusion step, training
iteration, rendered window), which raises `Cancelled`.
"""

from __future__ import annotations

from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def check_cancel(cancel: Optional[CancelFn]) -> None:
    """Raise `Cancelled` if `cancel` says so; a None callback never cancels."""
    if cancel is not None and cancel():
        raise Cancelled()


def report(progress: Optional[ProgressFn], fraction: float, message: str = "") -> None:
    """Call `progress` with `fraction` clamped to [0, 1]; a None callback is ignored."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def sub_progress(progress: Optional[ProgressFn], start: float, end: float) -> Optional[ProgressFn]:
    """Map a sub-task's [0, 1] onto [start, end] of `progress` (for nested stages)."""
    if progress is None:
        return None

    def mapped(fraction: float, message: str = "") -> None:
        report(progress, start + (end - start) * fraction, message)

    return mapped
