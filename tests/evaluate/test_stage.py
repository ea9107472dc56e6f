"""The evaluate stage on real runs: every reported number traced back to the runs' own files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from fmlpipe.errors import DataError
from fmlpipe.evaluate.reports import ReportPaths
from fmlpipe.evaluate.stage import Comparison, run_evaluate
from fmlpipe.paths import Paths
from fmlpipe.stages import STAGES, StageOptions
from tests.evaluate.conftest import ALGORITHMS, eval_params

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _final_clients(paths: Paths, algorithm: str) -> dict[str, float]:
    rows = _rows(paths.run_dir(algorithm) / "clients.csv")
    last = max(int(r["round"]) for r in rows)
    return {r["client"]: float(r["acc_personalized"]) for r in rows if int(r["round"]) == last}


def test_metrics_are_the_runs_own_numbers(runs_project: Paths) -> None:
    comparison = run_evaluate(eval_params(), runs_project)
    reported = _json(ReportPaths(runs_project.root).metrics)
    assert list(reported) == list(ALGORITHMS)
    for algorithm in ALGORITHMS:
        run = _json(runs_project.run_dir(algorithm) / "metrics.json")
        timing = _json(runs_project.run_dir(algorithm) / "timing.json")
        mine = reported[algorithm]
        for stat in ("mean", "std", "min", "p10"):
            assert mine[f"acc_personalized_{stat}"] == run[f"acc_personalized_{stat}"]
        assert mine["acc_personalized_min"] == min(_final_clients(runs_project, algorithm).values())
        assert mine["acc_global_test"] == run.get("acc_global_test")
        assert mine["rounds"] == run["rounds"] == 2
        assert mine["train_seconds"] == timing["train_seconds"]
    assert reported["local"]["acc_global_test"] is None
    assert comparison.flat_metrics()["fml.acc_personalized_mean"] == reported["fml"]["acc_personalized_mean"]
    assert "local.acc_global_test" not in comparison.flat_metrics()


def test_best_algorithms_and_table_rows(runs_project: Paths) -> None:
    comparison = run_evaluate(eval_params(), runs_project)
    runs = {a: _json(runs_project.run_dir(a) / "metrics.json") for a in ALGORITHMS}
    top = max(r["acc_personalized_mean"] for r in runs.values())
    assert comparison.best_personalized == tuple(a for a in ALGORITHMS if runs[a]["acc_personalized_mean"] == top)
    top_global = max(runs[a]["acc_global_test"] for a in ("fml", "fedavg"))
    assert comparison.best_global == tuple(a for a in ("fml", "fedavg") if runs[a]["acc_global_test"] == top_global)

    text = ReportPaths(runs_project.root).comparison.read_text()
    for algorithm, run in runs.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {algorithm} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{100 * run['acc_personalized_mean']:.1f}%"
        assert cells[3] == f"{100 * run['acc_personalized_min']:.1f}%"
        assert cells[5] == ("–" if algorithm == "local" else f"{100 * run['acc_global_test']:.1f}%")
    assert f"Best mean personalized accuracy: **{' and '.join(comparison.best_personalized)}**" in text
    card = _json(runs_project.card_file)
    stats = _json(runs_project.partition_stats)
    assert f"{card['dataset']}, {card['train_count']} training images" in text
    assert f"{stats['scheme']} (alpha {stats['params']['alpha']}), {stats['num_clients']} clients" in text
    assert f"mean EMD to the global label mix {stats['emd_mean']:.3f}" in text
    assert "fml: alpha 0.5, beta 0.5, schedule constant" in text and "fedprox" not in text


def test_csvs_hold_history_and_final_clients(runs_project: Paths) -> None:
    run_evaluate(eval_params(), runs_project)
    reports = ReportPaths(runs_project.root)
    by_round = _rows(reports.accuracy_by_round_csv)
    assert list(by_round[0]) == ["round", *ALGORITHMS, "fml_global", "fedavg_global"]
    for algorithm in ALGORITHMS:
        history = _rows(runs_project.run_dir(algorithm) / "history.csv")
        assert [r["round"] for r in by_round] == [h["round"] for h in history] == ["1", "2"]
        assert [float(r[algorithm]) for r in by_round] == [float(h["acc_personalized_mean"]) for h in history]
        if algorithm != "local":
            assert [float(r[f"{algorithm}_global"]) for r in by_round] == [float(h["acc_global_test"]) for h in history]
    clients = _rows(reports.client_accuracy_csv)
    assert [r["client"] for r in clients] == [str(i) for i in range(10)]
    for algorithm in ALGORITHMS:
        assert {r["client"]: float(r[algorithm]) for r in clients} == _final_clients(runs_project, algorithm)


def test_writes_exactly_the_report_files_and_valid_pngs(runs_project: Paths) -> None:
    comparison = STAGES["evaluate"].run(eval_params(), runs_project, StageOptions())
    assert isinstance(comparison, Comparison)
    reports = ReportPaths(runs_project.root)
    assert sorted(comparison.files) == sorted(reports.reports_dir.iterdir())
    assert {p.name for p in comparison.files} == {
        "metrics.json", "comparison.md", "accuracy_by_round.csv", "client_accuracy.csv",
        "accuracy_by_round.png", "client_accuracy.png"}
    for png in (reports.accuracy_by_round_png, reports.client_accuracy_png):
        assert png.read_bytes()[:8] == PNG_MAGIC


def _drop_history_row(paths: Paths, algorithm: str, index: int) -> None:
    path = paths.run_dir(algorithm) / "history.csv"
    lines = path.read_text().splitlines(keepends=True)
    del lines[1 + index if index >= 0 else index]
    path.write_text("".join(lines))


def _set_cell(paths: Paths, algorithm: str, name: str, row: int, column: str, value: str) -> None:
    path = paths.run_dir(algorithm) / name
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[row][column] = value
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _drop_rounds_row(paths: Paths, algorithm: str) -> None:
    path = paths.run_dir(algorithm) / "rounds.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


@pytest.mark.parametrize(
    ("break_runs", "message"),
    [
        (lambda p: (p.run_dir("fedavg") / "metrics.json").unlink(),
         r"runs/fedavg/metrics.json is missing: run `dvc repro` or `fmlpipe run-stage train --algorithm fedavg`"),
        (lambda p: (p.run_dir("local") / "timing.json").unlink(),
         r"runs/local/timing.json is missing: .*--algorithm local"),
        (lambda p: _drop_history_row(p, "fml", -1),
         r"runs/fml/history.csv: rounds \[1\] do not end at round 2 of .*runs/fml/metrics.json"),
        (lambda p: _drop_history_row(p, "local", 0),
         r"evaluated rounds differ: fml has \[1, 2\], local has \[2\]"),
        (lambda p: p.card_file.unlink(), r"data/prepared/card.json is missing: .*fmlpipe run-stage prepare"),
        (lambda p: (p.run_dir("fml") / "rounds.csv").unlink(), r"runs/fml/rounds.csv is missing: .*--algorithm fml"),
        (lambda p: _drop_rounds_row(p, "local"),
         r"runs/local/rounds.csv: rounds are not 1..2 \(a stale or partial run\)"),
        (lambda p: _set_cell(p, "fedavg", "rounds.csv", 1, "train_loss_global", "abc"),
         r"runs/fedavg/rounds.csv: train_loss_global='abc' is not a number"),
    ],
    ids=["missing-metrics", "missing-timing", "stale-history", "rounds-differ", "missing-card", "missing-rounds",
         "stale-rounds", "bad-loss"],
)
def test_bad_runs_fail_before_writing(runs_project: Paths, break_runs: Any, message: str) -> None:
    break_runs(runs_project)
    with pytest.raises(DataError, match=message):
        run_evaluate(eval_params(), runs_project)
    assert not ReportPaths(runs_project.root).reports_dir.exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_changing_the_convergence_check_rejudges_the_same_runs(runs_project: Paths) -> None:
    runs = _tree(runs_project.root / "runs")
    params = eval_params()
    window = params.convergence.window
    comparison = run_evaluate(params, runs_project)
    reasons = {s.algorithm: s.convergence for s in comparison.summaries}
    assert all(f"stretch of 2 rounds is shorter than the window of {window}" in r for r in reasons.values())
    # a window of both rounds: the line through them is the whole fall from the highest, a share of 100%
    two = params.model_copy(update={"convergence": params.convergence.model_copy(update={"window": 2})})
    comparison = run_evaluate(two, runs_project)
    for s in comparison.summaries:
        assert s.converged is False and "still falling: 100.0% of its fall so far" in s.convergence
    assert "still falling: 100.0%" in ReportPaths(runs_project.root).comparison.read_text()
    assert _tree(runs_project.root / "runs") == runs  # judged again from the same files, nothing re-trained
