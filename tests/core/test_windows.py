"""Windows over workers without Ray (core/windows.py): one worker per device gives the same bits as
one device; lost workers' items are retried or reported; cancel stops every worker; no flag, no Ray."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.enhance.backend import SvdEnhancer
from gs_enhancer_addon.core.errors import Cancelled, DeviceError, InputError
from gs_enhancer_addon.core.job_config import preset_config
from gs_enhancer_addon.core.model_cache import ModelCache
from gs_enhancer_addon.core.render.views import render_views_numpy
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene
from gs_enhancer_addon.core.stages import StageContext
from gs_enhancer_addon.core.trajectory import trajectory_from_references
from gs_enhancer_addon.core.windows import LocalPool, WorkersLostError, dispatch

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
FIVE_REFERENCES = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=5, width=32, height=24)


@pytest.fixture(autouse=True)
def model_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path_factory.getbasetemp() / "models"))


def tiny_enhancer():
    config = preset_config("fast", views_per_segment=2)
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=2)
    return SvdEnhancer(config), config


def test_two_local_workers_give_the_single_device_bits_and_one_progress_bar():
    enhancer, config = tiny_enhancer()
    scene = sample_scene(FIVE_REFERENCES)
    trajectory = trajectory_from_references(sample_cameras(FIVE_REFERENCES), config.trajectory)
    frames = render_views_numpy(scene, trajectory.cameras, CPU)
    assert len(trajectory.windows) == 4

    single = enhancer.enhance(scene, frames, trajectory, StageContext([CPU], ModelCache()))
    seen = []
    # The same device twice: the second worker gets a private cache (tests; real runs name GPUs).
    spread = enhancer.enhance(scene, frames, trajectory, StageContext([CPU, CPU], ModelCache(),
                                                                      lambda f, m: seen.append((f, m))))
    assert np.array_equal(single, spread), "seeded per window, never per worker"
    novel = [i for i in range(len(frames)) if i not in trajectory.reference_indices]
    assert not np.allclose(single[novel], frames[novel]), "the windows were really enhanced"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[-1][1] == "4/4 windows done on 2 workers"


class Doubler:
    """A toy processor: doubles its payload; fails on the devices in `broken` like a GPU out of
    memory would (DeviceError); waits `delay` seconds per item, checking cancel."""

    def __init__(self, broken=(), delay=0.0):
        self.broken, self.delay = set(broken), delay
        self.threads = set()

    def load(self, ctx):
        return 2

    def process(self, factor, payload, ctx):
        self.threads.add(threading.current_thread().name)
        if str(ctx.device) in self.broken:
            raise DeviceError(f"{ctx.device} ran out of memory")
        end = time.monotonic() + self.delay
        while time.monotonic() < end:
            if ctx.cancel():
                raise Cancelled()
            ctx.progress(0.5, "half")
            time.sleep(0.01)
        return factor * payload


def local_pool(*devices):
    return LocalPool([torch.device(d) for d in devices], ModelCache())


def test_a_failed_device_hands_its_items_to_the_others():
    pool = local_pool("cpu", "meta")
    processor = Doubler(broken={"meta"})
    assert dispatch(pool, processor, list(range(6))) == [0, 2, 4, 6, 8, 10]
    pool.close()


def test_when_every_device_fails_the_error_names_the_item_and_the_cause():
    pool = local_pool("cpu", "meta")
    with pytest.raises(WorkersLostError, match=r"item \d of 3 could not finish: .*ran out of memory.*no worker is left"):
        dispatch(pool, Doubler(broken={"cpu", "meta"}), [1, 2, 3])
    pool.close()


def test_no_workers_is_an_error_not_a_wait():
    pool = LocalPool([], ModelCache())
    with pytest.raises(WorkersLostError, match="No worker is available"):
        dispatch(pool, Doubler(), [1])


def test_cancel_stops_every_worker_and_raises():
    pool = local_pool("cpu", "meta")
    started = time.monotonic()
    calls = []

    def cancel():
        calls.append(1)
        return time.monotonic() - started > 0.3

    with pytest.raises(Cancelled):
        dispatch(pool, Doubler(delay=5.0), list(range(8)), cancel=cancel)
    assert time.monotonic() - started < 3.0, "workers stopped at their next step, not after their item"
    pool.close()


def test_an_items_own_error_stops_the_run_with_that_error():
    class Picky(Doubler):
        def process(self, factor, payload, ctx):
            if payload == 3:
                raise InputError("item 3 is bad")
            return super().process(factor, payload, ctx)

    pool = local_pool("cpu", "meta")
    with pytest.raises(InputError, match="item 3 is bad"):
        dispatch(pool, Picky(), list(range(6)))
    pool.close()


def test_without_a_ray_flag_the_cli_never_imports_ray(tmp_path):
    """Today's single-process path: the whole `enhance` command runs and `ray` stays unimported."""
    script = f"""
import sys
from gs_enhancer_addon.cli import main
from gs_enhancer_addon.core.capture import write_cameras_json
from gs_enhancer_addon.core.io.ply import write_ply
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene
small = SampleConfig(sphere_gaussians=100, ground_gaussians=50, reference_cameras=2, width=32, height=24)
write_ply(sample_scene(small), {str(tmp_path / "in.ply")!r})
write_cameras_json(sample_cameras(small), {str(tmp_path / "cams.json")!r})
code = main(["enhance", {str(tmp_path / "in.ply")!r}, "--cameras", {str(tmp_path / "cams.json")!r},
             "--out", {str(tmp_path / "out.ply")!r}, "--views-per-segment", "1", "--steps", "1",
             "--refine-iterations", "1", "--preset", "fast", "--devices", "cpu"])
assert code == 0, code
print("ray imported:", any(m == "ray" or m.startswith("ray.") for m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ray imported: False" in result.stdout
    assert (tmp_path / "out.ply").exists()


def test_ray_is_an_optional_extra_and_never_in_the_extension():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "ray==2.60.0" in project["optional-dependencies"]["cluster"]
    assert not any(r.startswith("ray") for r in project["dependencies"])
    lock = (ROOT / "wheels" / "runtime-lock.txt").read_text().splitlines()
    assert not any(line.split("=")[0].split(";")[0].strip().lower() == "ray" for line in lock), \
        "the Blender extension bundles wheels/runtime-lock.txt: Ray must not be in it"


def test_all_devices_means_every_gpu_or_the_cpu():
    from gs_enhancer_addon.core.devices import resolve_devices

    expected = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())] or [CPU]
    assert resolve_devices("all") == expected


def test_workers_without_ray_is_refused_before_anything_runs(capsys):
    from gs_enhancer_addon.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "jobs.toml", "--workers", "2"])
    assert exit_info.value.code == 2 and "--workers needs --ray" in capsys.readouterr().err
