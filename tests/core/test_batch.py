"""The batch command without Ray: jobs from TOML or JSON, one after another, outputs per job,
resume, one failing job does not stop the others, a summary table; batch files checked in words."""

from __future__ import annotations

import json

import pytest

from gs_enhancer_addon.cli import main
from gs_enhancer_addon.core.batch import load_batch
from gs_enhancer_addon.core.capture import write_cameras_json
from gs_enhancer_addon.core.errors import InputError, OutputError
from gs_enhancer_addon.core.io import read_scene, write_scene
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene

SMALL = SampleConfig(sphere_gaussians=100, ground_gaussians=40, reference_cameras=2, width=32, height=24)
QUICK = {"preset": "fast", "steps": 1, "views_per_segment": 1, "refine_iterations": 1}


@pytest.fixture
def scenes(tmp_path, monkeypatch):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path.parent / "models"))
    write_scene(sample_scene(SMALL), tmp_path / "a.ply")
    write_cameras_json(sample_cameras(SMALL), tmp_path / "cams.json")
    return tmp_path


def test_batch_runs_each_job_writes_its_outputs_resumes_and_reports(scenes, capsys):
    jobs = {"defaults": QUICK, "jobs": [
        {"input": "a.ply", "cameras": "cams.json", "out": "out/a.ply", "sheet": "out/a.png"},
        {"name": "broken", "input": "a.ply", "cameras": "missing.json", "out": "out/broken.ply"},
        {"name": "second", "input": "a.ply", "cameras": "cams.json", "out": "out/b.ply"},
    ]}
    (scenes / "jobs.json").write_text(json.dumps(jobs))
    code = main(["batch", str(scenes / "jobs.json"), "--devices", "cpu"])
    table = capsys.readouterr().out
    assert code == 1, "a failed job makes the exit status 1"
    assert sorted(p.name for p in (scenes / "out").iterdir()) == ["a.ply", "a.png", "b.ply"]
    assert len(read_scene(scenes / "out" / "a.ply")) == 140
    rows = {line.split()[0]: line for line in table.splitlines() if line.split()}
    assert "done" in rows["a"] and "done" in rows["second"]
    assert "failed" in rows["broken"] and "missing.json" in rows["broken"]
    assert "2 done, 1 failed" in table

    before = (scenes / "out" / "a.ply").stat().st_mtime_ns
    code = main(["batch", str(scenes / "jobs.json"), "--devices", "cpu"])
    table = capsys.readouterr().out
    assert "2 skipped, 1 failed" in table, "a re-run skips finished jobs"
    assert (scenes / "out" / "a.ply").stat().st_mtime_ns == before


@pytest.mark.parametrize("text, match", [
    ('[[jobs]]\ninput = "a.ply"\ncameras = "c.json"\n', "job 1: missing out"),
    ('[[jobs]]\ninput = "a.ply"\ncameras = "c.json"\nout = "o.ply"\nstyel = "x"\n', "unknown key.*styel"),
    ('[[jobs]]\ninput = "a.ply"\ncameras = "c.json"\nout = "o.ply"\nsteps = 0\n', "steps must be a positive"),
    ('[[jobs]]\ninput = "a.ply"\ncameras = "c.json"\nout = "o.ply"\n[[jobs]]\ninput = "b.ply"\ncameras = "c.json"\n'
     'out = "o.ply"\n', "both write"),
    ('jobs = [\n', "not valid TOML"),
    ('title = "no jobs"\n', "no jobs"),
])
def test_bad_batch_files_are_explained(tmp_path, text, match):
    (tmp_path / "jobs.toml").write_text(text)
    with pytest.raises(InputError, match=match):
        load_batch(tmp_path / "jobs.toml")


def test_toml_defaults_relative_paths_and_a_json_list(tmp_path):
    (tmp_path / "jobs.toml").write_text('[defaults]\npreset = "best"\n[[jobs]]\ninput = "in/a.ply"\n'
                                        'cameras = "c.json"\nout = "o.ply"\npreset = "fast"\n[[jobs]]\n'
                                        'input = "b.ply"\ncameras = "c.json"\nout = "p.ply"\nstyle = "ink"\n')
    a, b = load_batch(tmp_path / "jobs.toml")
    assert (a.name, a.preset, a.input) == ("a", "fast", tmp_path / "in" / "a.ply")
    assert b.preset == "best"
    config = b.config("cpu")
    assert config.stylize.text == "ink" and config.device == "cpu" and config.enhance.num_inference_steps == 50
    (tmp_path / "jobs.json").write_text(json.dumps([{"input": "a.ply", "cameras": "c.json", "out": "o.ply"}]))
    assert load_batch(tmp_path / "jobs.json")[0].out == tmp_path / "o.ply"


def test_outputs_are_checked_before_any_job_runs(tmp_path):
    (tmp_path / "a.ply").write_text("x")
    for name, words in (("out.txt", "must end in"), ("a.ply", "input of the run")):
        (tmp_path / "jobs.json").write_text(json.dumps({"jobs": [{"input": "a.ply", "cameras": "c.json",
                                                                   "out": name}]}))
        with pytest.raises(OutputError, match=words):
            load_batch(tmp_path / "jobs.json")
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": [{"input": "a.ply", "cameras": "c.json", "out": "o.spz"}]}))
    assert [job.out.name for job in load_batch(tmp_path / "jobs.json")] == ["o.spz"], ".spz is a splat output"


def test_a_failed_cluster_marks_the_jobs_it_could_not_run(scenes, monkeypatch):
    """Every worker lost: the batch still returns one status per job (the summary table), never a traceback."""
    from gs_enhancer_addon.core import batch
    from gs_enhancer_addon.core.windows import WorkersLostError

    def lose_every_worker(*args, **kwargs):
        raise WorkersLostError("window 1 lost 3 workers (killed)")

    monkeypatch.setattr(batch, "_run_on_cluster", lose_every_worker)
    (scenes / "jobs.json").write_text(json.dumps({"jobs": [{"input": "a.ply", "cameras": "cams.json",
                                                            "out": "out/a.ply"}]}))
    statuses = batch.run_batch(load_batch(scenes / "jobs.json"), lambda *a: None, cluster=object())
    assert [(s.status, s.error) for s in statuses] == [("failed", "window 1 lost 3 workers (killed)")]
