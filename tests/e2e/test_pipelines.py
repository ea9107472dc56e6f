"""The shipped pipelines under pipelines/, run by `dvc repro` in a tiny configuration: every
stage runs, every variant lands in its own folder and MLflow run, and the summary holds them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_fashion
from tests.e2e.kit import copy_repo, ran, run

pytestmark = [pytest.mark.e2e, needs_fashion]

# Two of the six: the reference with its baselines, and catfish (a per-client model override)
# given balance_step's moving schedule too, so that one variant's stages carry both; model cycles,
# tasks and the linear schedule are the same wiring (tests/fl cover their numbers, tasks in
# tests/fl/test_heterogeneity.py).
DOM_VARIANTS = ["base", "catfish"]
PAPER_ALGORITHMS = ("fml", "local")
PAPER_SEEDS = ("fmnist_iid_s0", "fmnist_iid_s1")


def _tiny(params: dict[str, Any], clients: int) -> None:
    params["data"]["train_fraction"] = 0.03
    params["partition"].update(num_clients=clients, min_samples=20)
    params["federation"].update(rounds=2, local_epochs=1, batch_size=32, eval_every=1)


def _shrink_dom(params: dict[str, Any]) -> None:
    _tiny(params, 4)
    params["algorithms"]["fml"]["step_every"] = 1  # the step schedule moves within two rounds
    variants = params["variants"]
    schedule = {key: value for key, value in variants["balance_step"].items() if key.startswith("algorithms.fml.")}
    params["variants"] = {"base": variants["base"], "catfish": {**variants["catfish"], **schedule}}


def _dom_seed_zero(dvc: dict[str, Any]) -> None:
    """Only the seed-0 variants: summarize's dependencies on the others go with them, and the
    references run in `base` alone."""
    deps = dvc["stages"]["summarize"]["deps"]
    dvc["stages"]["summarize"]["deps"] = [d for d in deps if not re.search(r"_s\d+/", d)
                                          and (d.startswith("code/") or d.split("/")[0] in DOM_VARIANTS)]
    dvc["stages"]["reference"]["matrix"]["variant"] = ["base"]


def _shrink_paper(params: dict[str, Any]) -> None:
    params["tracking"]["enabled"] = False
    for name, keys in params["variants"].items():
        if name.startswith("fmnist_"):
            keys.update({"data.train_fraction": 0.03, "federation.rounds": 2, "federation.eval_every": 1})
    params["partition"]["min_samples"] = 20
    # Two of the algorithms: the train matrix follows the `algorithms` section, whatever it holds.
    params["algorithms"] = {name: params["algorithms"][name] for name in PAPER_ALGORITHMS}
    # The IID split's first two seeds (enough to pool): the non-IID ones are the same stages with
    # another scheme, and a third seed is a third copy of the same stages.
    params["variants"] = {name: keys for name, keys in params["variants"].items() if name in PAPER_SEEDS}


def _paper_iid_only(dvc: dict[str, Any]) -> None:
    deps = dvc["stages"]["summarize_fmnist"]["deps"]
    dvc["stages"]["summarize_fmnist"]["deps"] = [d for d in deps if not d.startswith("fmnist") or
                                                  d.split("/")[0] in PAPER_SEEDS]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_dom_pipeline_runs_every_variant_and_summarizes(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path, {"pipelines/dom/params.yaml": _shrink_dom, "pipelines/dom/dvc.yaml": _dom_seed_zero},
                     pipelines=["dom"])
    out = run(["dvc", "repro", "pipelines/dom/dvc.yaml"], repo)
    stages = ran(out)
    for kind in ("prepare", "partition", "train", "evaluate"):
        assert sorted(s for s in stages if s.startswith(f"{kind}@")) == sorted(f"{kind}@{v}" for v in DOM_VARIANTS)
    references = sorted(s for s in stages if s.startswith("reference@"))
    assert references == ["reference@base-fedavg_ft", "reference@base-local"]
    assert "summarize" in stages  # DVC may order it before an evaluate it does not depend on
    dom = repo / "pipelines/dom"
    archs = json.loads((dom / "catfish/runs/fml/models/architectures.json").read_text())
    assert "cnn_same" in json.dumps(archs)
    assert "cnn_same" not in (dom / "base/runs/fml/models/architectures.json").read_text()
    summary = _rows(dom / "reports/summary.csv")
    assert [r["variant"] for r in summary if r["algorithm"] == "fml"] == DOM_VARIANTS
    assert [r["algorithm"] for r in summary if r["variant"] == "base"] == ["fml", "local", "fedavg_ft"]
    assert all(r["seeds"] == "1" for r in summary)
    verdicts = _rows(dom / "reports/verdicts.csv")  # one seed: every seed-paired verdict says so
    assert {(v["a"], v["b"]) for v in verdicts} >= {("fml", "local"), ("fml", "fedavg_ft"), ("catfish", "base")}
    assert {v["verdict"] for v in verdicts} == {"n/a (1 pair)"}
    # catfish singles out client 0: every variant's "others" are clients 1-3, the same clients
    others = {r["variant"]: float(r["others_mean"]) for r in summary if r["algorithm"] == "fml"}
    clients = _rows(dom / "base/runs/fml/clients.csv")
    last = [float(r["acc_personalized"]) for r in clients if r["round"] == "2" and r["client"] != "0"]
    assert others["base"] == pytest.approx(sum(last) / len(last))
    by_round = _rows(dom / "reports/by_round.csv")
    assert {r["beta"] for r in by_round if r["algorithm"] != "fml"} == {""}  # the references have no balance
    betas = {(r["variant"], r["round"]): float(r["beta"]) for r in by_round if r["algorithm"] == "fml"}
    assert betas[("base", "2")] == 0.5
    assert (betas[("catfish", "1")], betas[("catfish", "2")]) == pytest.approx((0.1, 0.5))
    for png in ("by_round.png", "balance.png", "others.png"):
        assert (dom / "reports" / png).read_bytes()[:4] == b"\x89PNG"

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fmlpipe-dom")
    parents = [r for r in client.search_runs([experiment.experiment_id], max_results=500)
               if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_name for r in parents) == sorted([*(f"{v}/fml" for v in DOM_VARIANTS),
                                                               "base/local", "base/fedavg_ft"])
    assert {r.data.tags["fmlpipe.variant"] for r in parents} == set(DOM_VARIANTS)
    assert ran(run(["dvc", "repro", "pipelines/dom/dvc.yaml"], repo)) == ["code"]  # the code fingerprint, always


def test_paper_pipeline_fashion_variants_pool_seeds(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path, {"pipelines/paper/params.yaml": _shrink_paper,
                                "pipelines/paper/dvc.yaml": _paper_iid_only}, pipelines=["paper"])
    stages = ran(run(["dvc", "repro", "pipelines/paper/dvc.yaml:summarize_fmnist"], repo))
    assert len([s for s in stages if s.startswith("train@fmnist_")]) == len(PAPER_SEEDS) * len(PAPER_ALGORITHMS)
    assert not any("mnist_iid" in s and not s.startswith(("train@fmnist", "prepare@fmnist", "partition@fmnist",
                                                          "evaluate@fmnist")) for s in stages)
    summary = _rows(repo / "pipelines/paper/reports/fmnist/summary.csv")
    assert [(r["variant"], r["algorithm"]) for r in summary] == [("fmnist_iid", alg) for alg in PAPER_ALGORITHMS]
    assert all(r["seeds"] == "2" for r in summary)
    personalized = [json.loads((repo / f"pipelines/paper/fmnist_iid_s{k}/runs/fml/metrics.json").read_text())
                    ["acc_personalized_mean"] for k in range(len(PAPER_SEEDS))]
    assert float(summary[0]["personalized_mean"]) == pytest.approx(sum(personalized) / len(PAPER_SEEDS))
    assert len(set(personalized)) == 2  # two seeds, two different runs
