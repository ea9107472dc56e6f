"""The files a finished ``train@<algorithm>`` stage leaves in ``runs/<algorithm>/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.modelpool import LOCAL
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.protocol import State
from fmlpipe.fl.simulation import RunState, global_models
from fmlpipe.io import write_json, write_text
from fmlpipe.machine import describe
from fmlpipe.metrics import (
    ACC_GLOBAL_LOCAL,
    ACC_GLOBAL_TEST,
    ACC_PERSONALIZED,
    LOSS_GLOBAL_TEST,
    PERSONALIZED_MODEL,
    Row,
    client_name,
)
from fmlpipe.model_files import architecture, save_model

SavedModel = tuple[State, dict[str, object]]
"""(weights, architecture as ``model_files.architecture`` records it)."""

FINAL_KEYS = (ACC_PERSONALIZED, ACC_GLOBAL_LOCAL, ACC_GLOBAL_TEST, LOSS_GLOBAL_TEST)


def csv_text(rows: Sequence[Row]) -> str:
    """Rows as CSV; columns in first-seen order across all rows."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def final_metrics(alg: Algorithm, state: RunState) -> dict[str, object]:
    """The last evaluated round's summaries and what the personalized model is: what DVC shows as
    this run's metrics (whether training converged is the evaluate stage's to judge)."""
    last = state.history[-1]
    metrics: dict[str, object] = {"algorithm": alg.name, "rounds": state.round,
                                  PERSONALIZED_MODEL: alg.personalized}
    for key, value in last.items():
        if key.startswith(FINAL_KEYS):
            metrics[key] = value
    return metrics


def run_models(alg: Algorithm, backend: Backend, global_state: State | None) -> dict[str, SavedModel]:
    """The models a run leaves, by file name: ``global`` (the shared model of the headline
    task), ``global-<task>`` for each other task, and each client's own model (``client-007``)
    in its own architecture, with its task."""
    roster, shape, norm = alg.ctx.roster, alg.ctx.data.input_shape, alg.ctx.data.normalization
    out: dict[str, SavedModel] = {}
    shared = global_models(alg, backend, global_state)
    for task in sorted(shared, key=lambda t: t != roster.headline_task):
        name = "global" if task == roster.headline_task else f"global-{task}"
        out[name] = shared[task], {**architecture(roster.global_arch, shape, roster.classes[task], norm), "task": task}
    if LOCAL in alg.roles:
        for cid, state in sorted(backend.states(), key=lambda item: item[0]):
            key = roster.key(LOCAL, cid)
            arch = architecture(key.arch, shape, key.num_classes, norm)
            out[client_name(cid)] = split(state).own, {**arch, "task": roster.tasks[cid]}
    return out


def write_run_outputs(run_dir: Path, alg: Algorithm, state: RunState, saved: dict[str, SavedModel]) -> None:
    """Models (safetensors + architecture), per-round CSVs, final metrics, and the timings with
    the machine that made them (with the Ray backend, the driver's: the clients ran on workers)."""
    models = run_dir / "models"
    for name, (weights, arch) in saved.items():
        save_model(models / f"{name}.safetensors", weights, arch)
    write_json(models / "architectures.json", {name: arch for name, (_, arch) in saved.items()})
    write_text(run_dir / "history.csv", csv_text(state.history))
    write_text(run_dir / "rounds.csv", csv_text(state.rounds_log))
    write_text(run_dir / "clients.csv", csv_text(state.client_rows))
    write_json(run_dir / "metrics.json", final_metrics(alg, state))
    write_json(run_dir / "timing.json", {
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "seconds_per_round": state.train_seconds / max(state.round, 1),
        "machine": describe(),
    })
