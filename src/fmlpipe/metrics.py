"""Every recorded metric's name, in one place, and the log a run keeps.

The round loop (``fl.simulation``) writes these names into its rows; the run outputs, MLflow,
``evaluate`` and ``summarize`` read them back through the helpers here, never by spelling a
string of their own. No torch: the readers import this without the training stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Row = dict[str, float | int]
"""One line of a log: a metric name -> its value."""

# Row keys that are coordinates, not metrics.
ROUND = "round"
CLIENT = "client"

# Per round (``rounds.csv`` and ``history.csv``).
LR = "lr"
PARTICIPANTS = "participants"
TRAIN_LOSS = "train_loss"  # + "_<model name>", one per model a client trains (``train_loss_name``)

# Per client per evaluated round (``clients.csv``), summarized across clients in ``history.csv``.
ACC_PERSONALIZED = "acc_personalized"  # the client's personalized model on its local test split
ACC_GLOBAL_LOCAL = "acc_global_local"  # the global model on the client's local test split
CLIENT_METRICS = (ACC_PERSONALIZED, ACC_GLOBAL_LOCAL)

# The global model on the global test set (+ "_<task>" per task under task heterogeneity).
ACC_GLOBAL_TEST = "acc_global_test"
LOSS_GLOBAL_TEST = "loss_global_test"

STATS = ("mean", "std", "min", "p10")  # a per-client metric summarized across clients

# FML's scheduled balance, recorded per round.
ALPHA = "alpha"
BETA = "beta"

# A finished run's verdicts: `personalized_model` in its `metrics.json`; `converged` and its reason in
# the evaluate stage's `reports/metrics.json`.
CONVERGED = "converged"  # true when training levelled off (``evaluate.convergence``)
CONVERGENCE = "convergence"  # the one-line reason
PERSONALIZED_MODEL = "personalized_model"  # what the run's acc_personalized measures


def stat_name(metric: str, stat: str) -> str:
    """``acc_personalized_mean`` from ``acc_personalized`` and ``mean``."""
    return f"{metric}_{stat}"


def task_name(metric: str, task: str) -> str:
    """``acc_global_test_coarse``: a global-test figure of one task."""
    return f"{metric}_{task}"


def train_loss_name(model: str) -> str:
    """``train_loss_meme``: the mean training loss of one of the models a client trains."""
    return f"{TRAIN_LOSS}_{model}"


def train_loss_models(row: Row) -> list[str]:
    """The models whose training loss ``row`` records, in row order."""
    prefix = f"{TRAIN_LOSS}_"
    return [key.removeprefix(prefix) for key in row if key.startswith(prefix)]


def client_name(cid: int) -> str:
    """A client's name in files and MLflow runs: ``client-007``."""
    return f"client-{cid:03d}"


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, population std, min and 10th percentile (linear interpolation) across clients."""
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std()),
        "min": float(arr.min()),
        "p10": float(np.percentile(arr, 10)),
    }


@dataclass
class RunLog:
    """What a run has recorded after ``round`` completed rounds (a checkpoint holds it)."""

    round: int = 0
    rounds_log: list[Row] = field(default_factory=list)  # one row per round: training stats
    history: list[Row] = field(default_factory=list)  # one row per evaluated round
    client_rows: list[Row] = field(default_factory=list)  # per client per evaluated round
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
