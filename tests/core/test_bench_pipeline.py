"""The pipeline benchmark runs end to end at tiny size and reports every stage and both baselines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_benchmark_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GS_ENHANCER_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import pipeline

    monkeypatch.setattr(pipeline.SIZES["tiny"], "refine_iterations", 4)
    monkeypatch.setattr(pipeline.SIZES["tiny"], "baseline_iterations", 3)
    args = ["--size", "tiny", "--repeats", "1", "--skip-flops", "--json", str(tmp_path / "report.json")]
    assert pipeline.main(args) == 0  # the FLOP count has its own test (test_bench_flops.py)
    report = json.loads((tmp_path / "report.json").read_text())
    assert [row["stage"] for row in report["stages"]] == ["check", "trajectory", "render", "enhance", "stylize",
                                                          "refine", "package"]
    assert all(row["seconds"] >= 0 for row in report["stages"]) and report["total_seconds"] > 0
    assert {row["gaussians"] for row in report["stages"]} == {report["gaussians"]} == {2000}  # no densifying on CPU
    for key in ("refine_vs_plain_step", "enhancer_vs_stock_svd"):
        assert report[key]["ratio"] > 0
    assert report["enhancer_vs_stock_svd"]["ratio_trained_cfw"] > 0
    assert report["refine_vs_plain_step"]["rasterizer"] == "reference (torch)"
    assert "full_size_window_flops" not in report
    assert report["versions"]["torch"].startswith("2.13") and report["device"]
    printed = capsys.readouterr().out
    assert "refine step (reference (torch) rasterizer): ours" in printed and "stock SVD" in printed
    for name in ("pipeline", "baselines", "sizes", "timing", "flops", "models_full"):
        sys.modules.pop(name, None)
