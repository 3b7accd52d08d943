"""The background runner: progress, results and errors reach the main thread only through pump()."""

from __future__ import annotations

import threading
import time

import pytest

from gs_enhancer_addon.blender.runner import JobRunner
from gs_enhancer_addon.core.errors import GsEnhancerError, InputError
from gs_enhancer_addon.core.progress import check_cancel


def drive(runner: JobRunner, timeout: float = 30.0) -> None:
    """What the UI timer does: pump until the job has been delivered."""
    deadline = time.monotonic() + timeout
    while runner.pump():
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.01)


def test_result_and_progress_are_delivered_on_the_main_thread():
    runner, seen, threads = JobRunner(), [], []

    def work(progress, cancel):
        threads.append(threading.current_thread())
        for i in range(3):
            progress((i + 1) / 3, f"step {i + 1}")
        return "result"

    runner.start(work, on_done=lambda r: seen.append((r, threading.current_thread())), on_error=seen.append)
    assert runner.busy
    runner.wait()
    assert runner.busy, "nothing is delivered before the main thread pumps"
    drive(runner)
    assert seen == [("result", threading.main_thread())]
    assert threads[0] is not threading.main_thread()
    assert runner.state.fraction == 1.0 and runner.state.message == "Done" and runner.state.error == ""


def test_progress_moves_while_running():
    runner, gate = JobRunner(), threading.Event()

    def work(progress, cancel):
        progress(0.25, "quarter")
        gate.wait(10)
        return None

    runner.start(work, on_done=lambda r: None, on_error=lambda e: None)
    deadline = time.monotonic() + 10
    while runner.state.fraction < 0.25:
        assert runner.pump() and time.monotonic() < deadline
        time.sleep(0.01)
    assert runner.state.message == "quarter"
    gate.set()
    drive(runner)


def test_user_error_is_reported_in_words():
    runner, errors = JobRunner(), []

    def work(progress, cancel):
        raise InputError("Pick at least two reference cameras.")

    runner.start(work, on_done=lambda r: pytest.fail("no result expected"), on_error=errors.append)
    drive(runner)
    assert errors == ["Pick at least two reference cameras."]
    assert runner.state.error == errors[0] and runner.state.message == "Failed"


def test_unexpected_error_names_its_type():
    runner, errors = JobRunner(), []
    runner.start(lambda p, c: 1 / 0, on_done=lambda r: None, on_error=errors.append)
    drive(runner)
    assert errors and errors[0].startswith("Unexpected error: ZeroDivisionError")


def test_cancel_stops_the_job_within_a_step():
    runner, errors, steps = JobRunner(), [], []

    def work(progress, cancel):
        for i in range(10_000):
            check_cancel(cancel)
            steps.append(i)
            time.sleep(0.001)
        return "finished"

    runner.start(work, on_done=lambda r: pytest.fail("cancelled job must not deliver a result"), on_error=errors.append)
    while not steps:
        time.sleep(0.001)
    runner.cancel()
    drive(runner)
    assert errors == ["Cancelled by the user."] and runner.state.message == "Cancelled"
    assert len(steps) < 10_000


def test_one_job_at_a_time():
    runner, gate = JobRunner(), threading.Event()
    runner.start(lambda p, c: gate.wait(10), on_done=lambda r: None, on_error=lambda e: None)
    with pytest.raises(GsEnhancerError, match="Another enhancement is running"):
        runner.start(lambda p, c: None, on_done=lambda r: None, on_error=lambda e: None)
    gate.set()
    drive(runner)
    runner.start(lambda p, c: 2, on_done=lambda r: None, on_error=lambda e: None)  # free again
    drive(runner)


def test_run_now_takes_the_same_outcome_path():
    runner, done, errors = JobRunner(), [], []
    runner.run_now(lambda progress, cancel: (progress(0.5, "half"), "result")[1], on_done=done.append,
                   on_error=errors.append)
    assert done == ["result"] and errors == [] and not runner.busy
    assert runner.state.fraction == 1.0 and runner.state.message == "Done"

    def cancelled(progress, cancel):
        from gs_enhancer_addon.core.errors import Cancelled

        raise Cancelled()

    runner.run_now(cancelled, on_done=done.append, on_error=errors.append)
    assert errors == ["Cancelled by the user."] and runner.state.message == "Cancelled"
