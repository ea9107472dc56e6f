"""`dvc repro` and `dvc exp run` on the real pipeline, in a temporary git copy of the repo,
with params shrunk so it runs in about a minute (5% of Fashion-MNIST, 2 rounds, mlp)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import needs_fashion
from tests.e2e.kit import copy_repo, ran as _ran, run as _run

pytestmark = [pytest.mark.e2e, needs_fashion]

ALGORITHMS = ("fml", "local", "fedavg_ft")  # in params.yaml's order
QUEUED = ("0.2", "0.7")  # algorithms.fml.alpha of the queued experiments


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def shrink(params: dict) -> None:
        params["data"]["train_fraction"] = 0.05
        params["partition"].update(num_clients=6, min_samples=20)
        params["federation"]["rounds"] = 2
        params["models"].update({"global": "mlp", "local": "mlp"})
        # FedAvg's training is FedAvg-FT's, FedProx's is FedAvg's with another loss: three train
        # stages prove the same wiring as five
        params["algorithms"] = {name: params["algorithms"][name] for name in ALGORITHMS}

    return copy_repo(tmp_path_factory.mktemp("repo"), {"params.yaml": shrink})  # the root pipeline alone


def _mlflow_runs(repo: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fmlpipe")
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_repro_runs_every_stage_then_nothing(repo_copy: Path) -> None:
    first = _run(["dvc", "repro"], repo_copy)
    stages = _ran(first)  # the train stages are independent: DVC may run them in any order
    assert stages[:3] == ["code", "prepare", "partition"] and stages[-1] == "evaluate"
    assert sorted(stages[3:-1]) == sorted(f"train@{a}" for a in ALGORITHMS)
    card = json.loads((repo_copy / "data/prepared/card.json").read_text())
    assert card["train_count"] == 3000 and card["test_count"] == 10000
    stats = json.loads((repo_copy / "data/partition/stats.json").read_text())
    assert len(stats["train_sizes"]) == 6 and min(stats["train_sizes"]) >= 1
    for algorithm in ALGORITHMS:
        metrics = json.loads((repo_copy / f"runs/{algorithm}/metrics.json").read_text())
        assert metrics["rounds"] == 2 and 0.0 < metrics["acc_personalized_mean"] <= 1.0
    report = json.loads((repo_copy / "reports/metrics.json").read_text())
    assert list(report) == list(ALGORITHMS) and report["local"]["acc_global_test"] is None
    for algorithm in ALGORITHMS:
        # two rounds are too few to tell whether training levelled off: every row says so
        assert report[algorithm]["converged"] is False
        assert "stretch of 2 rounds is shorter than the window of 10" in report[algorithm]["convergence"]
    text = (repo_copy / "reports/comparison.md").read_text()
    assert f"**Under-trained: {', '.join(ALGORITHMS)}.**" in text
    for algorithm in ALGORITHMS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {algorithm} |"))
        assert row.endswith("| **UNDER-TRAINED** |")
    assert "| local | last round |" in text and "| fedavg_ft | last round |" in text  # FML against the baselines
    runs = _mlflow_runs(repo_copy)
    parents = {r.info.run_name: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(parents) == sorted(ALGORITHMS)
    assert len(runs) == len(ALGORITHMS) * (1 + 6)  # one child run per client per algorithm
    for run in parents.values():
        assert run.info.status == "FINISHED"
        assert run.data.tags["fmlpipe.dvc_stage"] == f"train@{run.info.run_name}"
        assert "mlflow.source.git.commit" in run.data.tags
        assert f"compare.{run.info.run_name}.acc_personalized_mean" in run.data.metrics
    assert _ran(_run(["dvc", "repro"], repo_copy)) == ["code"]  # always run: it fingerprints the code
    assert len(_mlflow_runs(repo_copy)) == len(runs)  # nothing changed: no new runs


def test_exp_run_reruns_only_what_a_param_touches(repo_copy: Path) -> None:
    _run(["dvc", "repro"], repo_copy)
    _run(["git", "add", "-A"], repo_copy)
    _run(["git", "commit", "-qm", "lock"], repo_copy)
    named = _run(["dvc", "exp", "run", "-n", "alpha-03", "-S", "algorithms.fml.alpha=0.3"], repo_copy)
    assert _ran(named) == ["code", "train@fml", "evaluate"]
    tagged = [r for r in _mlflow_runs(repo_copy) if r.data.tags.get("fmlpipe.dvc_experiment") == "alpha-03"
              and r.info.run_name == "fml"]
    assert len(tagged) == 1 and tagged[0].data.params["algorithms.fml.alpha"] == "0.3"
    # up to partition only: the train stages after it rerun as the named experiment's did
    alpha = _run(["dvc", "exp", "run", "-S", "partition.alpha=0.3", "partition"], repo_copy)
    assert _ran(alpha) == ["code", "partition"]  # prepare reads no partition param
    shown = _run(["dvc", "exp", "show", "--json"], repo_copy)
    assert "acc_personalized_mean" in shown and "alpha-03" in shown


def test_queued_experiments_all_land_in_the_one_store(repo_copy: Path) -> None:
    _run(["dvc", "repro"], repo_copy)
    _run(["git", "add", "-A"], repo_copy)
    _run(["git", "commit", "-qm", "before queue"], repo_copy)
    for alpha in QUEUED:  # two at once (-j 2) against one SQLite store: what could collide
        _run(["dvc", "exp", "run", "--queue", "-n", f"queued-{alpha}", "-S", f"algorithms.fml.alpha={alpha}"],
             repo_copy)
    _run(["dvc", "queue", "start", "-j", "2"], repo_copy)
    deadline = time.monotonic() + 900
    status = _run(["dvc", "queue", "status"], repo_copy)
    while re.search(r"\b(Running|Queued)\b", status) and time.monotonic() < deadline:
        time.sleep(3)
        status = _run(["dvc", "queue", "status"], repo_copy)
    assert status.count("Success") >= len(QUEUED) and "Failed" not in status, status
    runs = _mlflow_runs(repo_copy)
    queued = {r.data.tags.get("fmlpipe.dvc_experiment") for r in runs if r.info.run_name == "fml"}
    assert {f"queued-{a}" for a in QUEUED} <= queued
    assert "RUNNING" not in {r.info.status for r in runs}
    assert "database is locked" not in status


def test_the_documented_sweep_queues_the_whole_grid(repo_copy: Path) -> None:
    """The README's sweep command: two -S lists queue every combination (here 2 x 2)."""
    _run(["dvc", "repro"], repo_copy)
    _run(["git", "add", "-A"], repo_copy)
    _run(["git", "commit", "-qm", "before sweep", "--allow-empty"], repo_copy)
    _run(["dvc", "exp", "run", "--queue", "-S", "algorithms.fml.alpha=0.3,0.7", "-S", "partition.alpha=0.1,1.0"],
         repo_copy)
    status = _run(["dvc", "queue", "status"], repo_copy)
    assert status.count("Queued") == 4, status
    _run(["dvc", "queue", "remove", "--queued"], repo_copy)
    assert "Queued" not in _run(["dvc", "queue", "status"], repo_copy)
