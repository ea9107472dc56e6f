"""``fmlpipe bench`` end to end on a sliver of the real Fashion-MNIST."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fmlpipe.cli import app
from fmlpipe.models.registry import MODELS
from tests.conftest import needs_fashion, write_project

runner = CliRunner()


def small_bench(tmp_path: Path, *options: str) -> tuple[str, dict[str, Any]]:
    """``fmlpipe bench OPTIONS`` for one round on 4% of the data with 4 clients: its output and JSON."""
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", *options, "--rounds", "1", "--data-fraction", "0.04", "--clients", "4",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text())


@needs_fashion
def test_bench_runs_every_setting_and_writes_json(tmp_path: Path) -> None:
    # the sequential engine: the vectorized one would compile its step first, for nothing this test checks
    output, report = small_bench(tmp_path, "--settings", "A,B,scale", "--engines", "sequential",
                                 "--scale-clients", "20")
    assert {"machine", "cases", "targets"} <= report.keys()
    cases = report["cases"]
    assert [(c["setting"], c["algorithm"]) for c in cases] == [
        ("A", "fml"), ("B", "fml"), ("scale", "fedavg"), ("scale-ref", "fedavg"), ("scale", "fml"),
        ("scale-ref", "fml")]
    for case in cases:
        assert case["engine"] == case["engine_used"] == "sequential"
        assert case["train_seconds_per_round"] > 0 and case["seconds_per_round"] >= case["train_seconds_per_round"]
        assert case["train_flops_per_second"] > 0 and case["matmul_flops_per_second"] > 0
        assert case["flops_ratio"] == case["train_flops_per_second"] / case["matmul_flops_per_second"]
        assert case["peak_rss_bytes"] >= case["rounds_peak_rss_bytes"] > 0
    a = cases[0]
    assert a["participants"] == a["num_clients"] == 4 and a["batch_size"] == 10
    assert a["train_flops_per_sample"] == 2 * 3 * 8_534_016  # FML: two cnn models, 3x forward each
    assert cases[2]["participants"] == 2 and cases[3]["participants"] == cases[3]["num_clients"] == 2
    assert {t["target"].split(":")[0] for t in report["targets"]} == {"A", "B", "scale"}
    assert "fmlpipe bench" in output and "targets" in output


def test_bench_help_documents_its_options() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    for option in ("--settings", "--rounds", "--engines", "--model", "--json", "--data-fraction"):
        assert option in result.output
    assert "--scale-clients" not in result.output  # test-only options stay hidden
    command = typer.main.get_command(app).commands["bench"]  # type: ignore[attr-defined]
    model_help = next(o for o in command.params if o.name == "model").help
    assert model_help.endswith(": " + ", ".join(MODELS) + ".")  # spelled out in the CLI: keep it whole


def test_bench_refuses_unknown_settings(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--settings", "A,Z", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 2
    assert "--settings='A,Z': expected a comma-separated list of A, B, scale" in result.output


@needs_fashion
def test_bench_other_model_is_measured_without_the_cnn_targets(tmp_path: Path) -> None:
    output, report = small_bench(tmp_path, "--settings", "A", "--engines", "parallel", "--model", "mlp",
                                 "--repeats", "2", "--compile", "off")
    [case, again] = report["cases"]
    assert (case["repeat"], again["repeat"]) == (0, 1) and "(run 2 of 2)" in output
    assert (case["compile"], case["compile_used"], case["compiled"]) == ("off", "off", False)
    assert case["model"] == "mlp" and case["engine_used"] == "parallel"
    # FML trains two 2NNs: 784*200 + 200*200 + 200*10 multiply-accumulates, 2 FLOPs each, 3 passes.
    assert case["train_flops_per_sample"] == 2 * 3 * 2 * (784 * 200 + 200 * 200 + 200 * 10)
    assert report["targets"] == []
    assert "Fashion-MNIST, mlp" in output and "no targets checked: they are set for the cnn" in output


def test_bench_refuses_unknown_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--model", "vgg", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 2
    assert "--model='vgg' is not a known model (allowed: mlp, cnn, cnn_same, lenet5, resnet8)" in result.output
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--compile", "off,on", "--engines", "parallel"], "--compile='off,on': on and graphs compile the vectorized "
                                                       "engine's step, and --engines='parallel' has no vectorized"),
    (["--compile", "fast"], "--compile='fast': expected a comma-separated list of auto, off, on, graphs"),
])
def test_bench_refuses_a_compilation_it_cannot_measure(tmp_path: Path, options: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", *options, "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b.json").exists()


def test_bench_refuses_cuda_graphs_without_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = runner.invoke(app, ["bench", "--engines", "vectorized", "--compile", "off,graphs",
                                 "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 2
    assert ("--compile=graphs replays the step as CUDA graphs, and no CUDA device is available (allowed here: auto, "
            "off, on)") in result.output
    assert not (tmp_path / "b.json").exists()


def ray_processes() -> list[int]:
    """Ray's own server processes on this machine (a local instance's GCS and raylets)."""
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("gcs_server", "raylet")]


@needs_fashion
@pytest.mark.ray  # starts Ray and counts its processes: run alone by `make test` (Makefile)
def test_bench_ray_backend_reports_the_driver_and_every_worker(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    before = ray_processes()
    _, report = small_bench(tmp_path, "--settings", "A", "--engines", "parallel", "--backends", "local,ray",
                            "--workers", "2")
    local, ray = report["cases"]
    assert (local["backend"], ray["backend"], ray["workers"]) == ("local", "ray", 2)
    assert local["worker_peak_rss_bytes"] == local["worker_rounds_peak_rss_bytes"] == []
    assert len(ray["worker_peak_rss_bytes"]) == 2
    assert all(life >= rounds > 0 for life, rounds in zip(ray["worker_peak_rss_bytes"],
                                                          ray["worker_rounds_peak_rss_bytes"]))
    assert ray["train_seconds_per_round"] > 0 and ray["peak_rss_bytes"] > 0
    [overhead] = [t for t in report["targets"] if "Ray" in t["target"]]
    assert overhead["engine"] == "ray2:parallel"
    assert overhead["value"] == ray["seconds_per_round"] / local["seconds_per_round"]
    assert ray_processes() == before  # the case stopped the Ray instance it started


@needs_fashion
def test_bench_default_setting_scales_evaluation_to_the_pipelines_schedule(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    project = write_project(tmp_path / "project", None, edit={
        "data.train_fraction": 0.03, "models.global": "cnn", "models.local": "cnn", "federation.rounds": 20,
        "federation.eval_every": 5, "algorithms.fedavg_ft": {"finetune_epochs": 1}},
        drop=("algorithms.fedprox", "algorithms.local", "algorithms.fedavg"))
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "--settings", "default", "--params", str(project / "params.yaml"),
                                 "--engines", "parallel", "--rounds", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [c["algorithm"] for c in report["cases"]] == ["fml", "fedavg_ft"]
    for case in report["cases"]:
        assert (case["pipeline_rounds"], case["pipeline_evaluations"]) == (20, 4)  # rounds 5, 10, 15, 20
        evals = case["round_eval_seconds"]
        assert len(evals) == 3 and min(evals) > 0  # every round of the case evaluated
        assert case["pipeline_eval_seconds"] == evals[1] * 3 + evals[2]
        assert case["pipeline_eval_share"] == case["pipeline_eval_seconds"] / (case["train_seconds_per_round"] * 20)
    assert [t["target"] for t in report["targets"]] == [
        f"default {a}: evaluation <= 15% of training over the pipeline's 20 rounds" for a in ("fml", "fedavg_ft")]
