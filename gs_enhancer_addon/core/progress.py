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


def sub_progress(progress: Optional[ProgressFn], start: float, end: float, prefix: str = "") -> Optional[ProgressFn]:
    """Map a sub-task's [0, 1] onto [start, end] of `progress` (for nested stages); `prefix`
    is put before the sub-task's messages ("window 2/4: step 3/25")."""
    if progress is None:
        return None

    def mapped(fraction: float, message: str = "") -> None:
        text = f"{prefix}: {message}" if prefix and message else prefix or message
        report(progress, start + (end - start) * min(1.0, max(0.0, fraction)), text)

    return mapped


class StagedProgress:
    """Overall progress of numbered stages with weights, with an ETA.

    `stage(i)` returns the progress callback for stage i; its [0, 1] maps onto that stage's share
    of the whole. Messages reach `progress` as "2/7 Render windows: <detail> (ETA 1m 20s)".
    """

    def __init__(self, progress: Optional[ProgressFn], stages: list[tuple[str, float]], clock=None):
        import time

        self._progress = progress
        self._names = [name for name, _ in stages]
        weights = [max(0.0, w) for _, w in stages]
        total = sum(weights) or 1.0
        self._starts = [sum(weights[:i]) / total for i in range(len(weights))]
        self._shares = [w / total for w in weights]
        self._clock = clock or time.monotonic
        self._t0 = self._clock()
        self._reported = 0.0  # the bar never moves back (float rounding at stage boundaries)

    def stage(self, index: int) -> ProgressFn:
        label = f"{index + 1}/{len(self._names)} {self._names[index]}"

        def stage_progress(fraction: float, message: str = "") -> None:
            overall = self._starts[index] + self._shares[index] * min(1.0, max(0.0, fraction))
            overall = self._reported = max(self._reported, overall)
            text = f"{label}: {message}" if message else label
            eta = self.eta_seconds(overall)
            if eta is not None:
                text += f" (ETA {format_duration(eta)})"
            report(self._progress, overall, text)

        stage_progress(0.0)
        return stage_progress

    def eta_seconds(self, overall: float) -> Optional[float]:
        """Remaining time from the average rate so far; None until there is something to go on."""
        elapsed = self._clock() - self._t0
        if overall < 0.02 or elapsed < 1.0:
            return None
        return elapsed * (1.0 - overall) / overall


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
