"""Staged progress: overall fraction, stage labels and ETA."""

from __future__ import annotations

import pytest

from gs_enhancer_addon.core.errors import Cancelled
from gs_enhancer_addon.core.progress import StagedProgress, check_cancel, format_duration, sub_progress


class FakeClock:  # a controllable time source (not a stand-in for any product part)
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_stages_map_onto_the_whole_with_weights_and_eta():
    seen, clock = [], FakeClock()
    staged = StagedProgress(lambda f, m: seen.append((f, m)), [("Render", 1.0), ("Enhance", 3.0)], clock=clock)
    render = staged.stage(0)
    assert seen[-1] == (0.0, "1/2 Render")
    clock.now += 10
    render(1.0, "done")
    assert seen[-1][0] == pytest.approx(0.25)
    assert seen[-1][1] == "1/2 Render: done (ETA 30s)"  # 10 s for a quarter: 30 s left
    enhance = staged.stage(1)
    clock.now += 30
    enhance(0.5)
    assert seen[-1][0] == pytest.approx(0.625)
    assert seen[-1][1].startswith("2/2 Enhance (ETA ")


def test_sub_progress_and_cancel():
    seen = []
    sub = sub_progress(lambda f, m: seen.append(f), 0.5, 1.0)
    sub(0.5, "")
    sub(2.0, "")  # clamped
    assert seen == [0.75, 1.0]
    check_cancel(None)
    check_cancel(lambda: False)
    with pytest.raises(Cancelled):
        check_cancel(lambda: True)


def test_format_duration():
    assert [format_duration(s) for s in (5, 65, 3725)] == ["5s", "1m 05s", "1h 02m"]
