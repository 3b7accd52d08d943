"""Scale-out on a local Ray cluster of 2 CPU workers (core/cluster.py): one job's windows over both
workers give the single-process bits; progress reaches 100%; a batch of 3 tiny scenes runs, resumes
and matches the sequential batch; cancel leaves no outputs; a killed worker's window is retried, or
the job fails saying so."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install .[cluster]); the scale-out tests need it")

from gs_enhancer_addon.core.batch import BatchJob, load_batch, run_batch  # noqa: E402
from gs_enhancer_addon.core.capture import write_cameras_json  # noqa: E402
from gs_enhancer_addon.core.cluster import RayCluster, connect  # noqa: E402
from gs_enhancer_addon.core.errors import DeviceError  # noqa: E402
from gs_enhancer_addon.core.io import read_scene, write_scene  # noqa: E402
from gs_enhancer_addon.core.job import EnhanceJob  # noqa: E402
from gs_enhancer_addon.core.job_config import preset_config  # noqa: E402
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene  # noqa: E402
from gs_enhancer_addon.core.windows import WorkersLostError  # noqa: E402
from tests.builders import assert_same_scene  # noqa: E402

SCENE = SampleConfig(sphere_gaussians=200, ground_gaussians=100, reference_cameras=5, width=32, height=24)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """2 CPU workers; the workers inherit the model-cache folder from this environment."""
    before = os.environ.get("GS_ENHANCER_MODEL_CACHE")
    os.environ["GS_ENHANCER_MODEL_CACHE"] = str(tmp_path_factory.getbasetemp() / "models")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cluster = connect("auto")  # joins the connection made above
        assert cluster.size == 2 and cluster.gpus == 0 and not cluster.owns_connection
        yield cluster
        cluster.shutdown()
        assert ray.is_initialized(), "a connection the caller made stays"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if before is None:
            os.environ.pop("GS_ENHANCER_MODEL_CACHE", None)
        else:
            os.environ["GS_ENHANCER_MODEL_CACHE"] = before


def job_config():
    config = preset_config("fast", views_per_segment=2, refine_iterations=3, device="cpu")
    config.enhance = dataclasses.replace(config.enhance, num_inference_steps=2)
    return config


@pytest.fixture(scope="module")
def single(cluster):
    """The single-process result the cluster runs must match bit for bit."""
    return EnhanceJob(job_config()).run(sample_scene(SCENE), sample_cameras(SCENE))


def test_one_jobs_windows_on_two_workers_give_the_single_process_bits(cluster, single):
    scene, cameras = sample_scene(SCENE), sample_cameras(SCENE)
    seen = []
    spread = EnhanceJob(job_config(), cluster=cluster).run(scene, cameras, progress=lambda f, m: seen.append((f, m)))
    assert len(spread.trajectory.windows) == 4
    assert np.array_equal(single.generated, spread.generated), "seeded per window, never per worker"
    assert_same_scene(single.scene, spread.scene)
    assert np.array_equal(single.after, spread.after)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("4/4 windows done on 2 workers" in m for _, m in seen), "both workers' progress in the one bar"
    assert any("windows done" in m and "(ETA " in m for _, m in seen), "the merged bar carries the job's ETA"
    assert len(set(cluster.worker_pids())) == 2


def test_a_killed_worker_has_its_window_retried_elsewhere(cluster, single):
    scene, cameras = sample_scene(SCENE), sample_cameras(SCENE)
    victim = cluster.worker_pids()[0]
    killed = []

    def kill_once_windows_run(fraction, message):
        if "windows done" in message and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = EnhanceJob(job_config(), cluster=cluster).run(scene, cameras, progress=kill_once_windows_run)
    assert killed == [victim]
    assert victim not in cluster.worker_pids() and len(cluster.worker_pids()) == 2, "a fresh worker took its place"
    assert np.array_equal(single.generated, result.generated), "no hole: the lost window was redone, same bits"


@pytest.fixture
def batch_file(tmp_path):
    """3 tiny scenes (different seeds and sizes) as a TOML batch file."""
    lines = ['[defaults]', 'preset = "fast"', 'steps = 2', 'views_per_segment = 1', 'refine_iterations = 2', '']
    for i in range(3):
        config = SampleConfig(sphere_gaussians=100 + 20 * i, ground_gaussians=40, reference_cameras=2, width=32,
                              height=24, seed=i)
        write_scene(sample_scene(config), tmp_path / f"scene{i}.ply")
        write_cameras_json(sample_cameras(config), tmp_path / f"cams{i}.json")
        lines += ['[[jobs]]', f'input = "scene{i}.ply"', f'cameras = "cams{i}.json"', f'out = "out/scene{i}.ply"',
                  f'sheet = "out/scene{i}.png"', '']
    (tmp_path / "jobs.toml").write_text("\n".join(lines))
    return tmp_path / "jobs.toml"


def write_splat_and_sheet(job, output, payload):
    from gs_enhancer_addon.cli import _write_outputs

    _write_outputs(output, job.out, None, job.sheet, name=job.name)


def test_a_batch_of_three_scenes_runs_over_the_cluster_resumes_and_matches_one_process(cluster, batch_file):
    jobs = load_batch(batch_file)
    seen = []
    statuses = run_batch(jobs, write_splat_and_sheet, device="cpu", cluster=cluster,
                         progress=lambda f, m: seen.append(f))
    assert [s.status for s in statuses] == ["done"] * 3, [s.error for s in statuses]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert all(job.finished() for job in jobs)

    here = [dataclasses.replace(job, out=job.out.with_name(job.out.stem + "-here.ply"), sheet=None) for job in jobs]
    assert [s.status for s in run_batch(here, write_splat_and_sheet, device="cpu")] == ["done"] * 3
    for job, local in zip(jobs, here):
        assert_same_scene(read_scene(local.out), read_scene(job.out))

    again = run_batch(jobs, write_splat_and_sheet, device="cpu", cluster=cluster)
    assert [s.status for s in again] == ["skipped"] * 3, "a re-run skips finished jobs"


def test_cancel_mid_batch_leaves_no_outputs_and_the_workers_usable(cluster, batch_file):
    jobs = load_batch(batch_file)
    state = {"cancel": False}

    def progress(fraction, message):
        state["cancel"] = state["cancel"] or fraction > 0.0

    statuses = run_batch(jobs, write_splat_and_sheet, device="cpu", cluster=cluster, progress=progress,
                         cancel=lambda: state["cancel"])
    # A job a worker finished before the cancel reached it keeps its outputs (run_batch's contract), and
    # on a cold start one can; the third job waits for a worker, so the cancel always stops it.
    assert {s.status for s in statuses} <= {"done", "cancelled"} and statuses[-1].status == "cancelled"
    for status in statuses:
        written = [p for p in (status.job.out, status.job.sheet) if p.exists()]
        assert written == ([status.job.out, status.job.sheet] if status.status == "done" else []), status.status
    assert not any(p.name.startswith(".") for p in (batch_file.parent / "out").glob("*"))  # no temporaries

    one = [BatchJob(**{**dataclasses.asdict(jobs[0]), "sheet": None})]
    again = run_batch(one, write_splat_and_sheet, device="cpu", cluster=cluster, force=True)  # even if it finished
    assert [s.status for s in again] == ["done"]


def test_a_killed_worker_with_no_replacement_fails_the_job_in_words(cluster):
    cluster.shutdown(disconnect=False)  # free both CPUs of the Ray instance for a cluster of one
    with pytest.raises(DeviceError, match="3 workers asked, but the cluster has 2 CPUs"):
        RayCluster(workers=3)
    lone = RayCluster(workers=1, replacements=0)
    try:
        victim = lone.worker_pids()[0]

        def kill(fraction, message):
            if "windows done" in message:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        with pytest.raises(WorkersLostError, match=r"window \d of 4 could not finish: its Ray worker died.*no worker"):
            EnhanceJob(job_config(), cluster=lone).run(sample_scene(SCENE), sample_cameras(SCENE), progress=kill)
    finally:
        lone.shutdown(disconnect=False)
