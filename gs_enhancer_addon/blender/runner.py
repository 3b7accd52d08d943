"""Run one job in a background thread; hand its events to Blender's main thread.

The worker never touches bpy: it gets plain data (snapshotted on the main thread), reports
progress into a queue, and returns a plain result. `JobRunner.pump()` runs on the main thread
(from a `bpy.app.timers` callback in the UI; tests call it directly because timers never fire in
the bpy module): it drains the queue, updates the visible state, and calls `on_done` / `on_error`
there, where touching bpy is safe. One job runs at a time.
"""

from __future__ import annotations

import queue
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..core.errors import Cancelled, GsEnhancerError
from ..core.model_cache import ModelCache

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]  # work(progress, cancel) -> result

PUMP_INTERVAL_S = 0.2


@dataclass
class RunnerState:
    """What the panel shows; only ever changed on the main thread (by pump)."""

    running: bool = False
    fraction: float = 0.0
    message: str = ""
    error: str = ""  # the last run's error in user words ("" when none)


class JobRunner:
    def __init__(self) -> None:
        self.state = RunnerState()
        self._events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._on_done: Optional[Callable[[Any], None]] = None
        self._on_error: Optional[Callable[[str], None]] = None

    @property
    def busy(self) -> bool:
        """True from start() until pump() has delivered the outcome."""
        return self.state.running

    def start(self, work: Work, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        """Run `work` in a background thread; pump() delivers its outcome on the main thread."""
        self._begin(on_done, on_error)
        self._thread = threading.Thread(target=self._worker, args=(work,), name="splat-enhancer-job", daemon=True)
        self._thread.start()

    def _begin(self, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        if self.busy:
            raise GsEnhancerError("Another enhancement is running; wait for it or cancel it first.")
        self.state = RunnerState(running=True, message="Starting")
        self._cancel.clear()
        self._on_done, self._on_error = on_done, on_error

    def cancel(self) -> None:
        self._cancel.set()

    def _worker(self, work: Work) -> None:
        def progress(fraction: float, message: str) -> None:
            self._events.put(("progress", (fraction, message)))

        self._events.put(self._outcome(work, progress, self._cancel.is_set))

    @staticmethod
    def _outcome(work: Work, progress, cancel) -> tuple[str, Any]:
        """("done", result), ("cancelled", message) or ("error", message in user words)."""
        try:
            return "done", work(progress, cancel)
        except Cancelled as exc:
            return "cancelled", str(exc)
        except GsEnhancerError as exc:
            return "error", str(exc)
        except Exception as exc:  # an unexpected failure: keep the traceback for the console
            traceback.print_exc()
            return "error", f"Unexpected error: {type(exc).__name__}: {exc}"

    def run_now(self, work: Work, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        """Run `work` on this thread (background mode: no UI to keep responsive), same outcome path."""
        self._begin(on_done, on_error)

        def progress(fraction: float, message: str) -> None:
            self.state.fraction, self.state.message = fraction, message

        self._finish(*self._outcome(work, progress, self._cancel.is_set))

    def pump(self) -> bool:
        """Main thread: apply queued events. Returns True while the job is still running."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                self.state.fraction, self.state.message = payload
            else:
                self._finish(kind, payload)
        return self.state.running

    def wait(self, timeout: float = 600.0) -> None:
        """Block until the worker thread ends (tests, shutdown); events still need a pump()."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _finish(self, kind: str, payload: Any) -> None:
        self.state.running = False
        try:
            if kind == "done":
                self.state.fraction, self.state.message = 1.0, "Done"
                self._on_done(payload)
            else:
                self.state.error = payload
                self.state.message = "Cancelled" if kind == "cancelled" else "Failed"
                self._on_error(payload)
        except GsEnhancerError as exc:  # applying the result failed in a way the user can act on
            self.state.error, self.state.message = str(exc), "Failed"
            self._on_error(str(exc))
        except Exception as exc:  # never a silent "Done": keep the traceback for the console
            traceback.print_exc()
            self.state.error, self.state.message = f"Unexpected error: {type(exc).__name__}: {exc}", "Failed"
            self._on_error(self.state.error)


# One runner per Blender session: one job at a time; and the models its jobs keep loaded.
RUNNER = JobRunner()
MODEL_CACHE = ModelCache()
