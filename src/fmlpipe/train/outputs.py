"""The files a finished ``train@<algorithm>`` stage leaves in ``runs/<algorithm>/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from fmlpipe.config.schema import ConvergenceParams
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.modelpool import LOCAL
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.protocol import State
from fmlpipe.fl.simulation import RunState, global_models
from fmlpipe.io import write_json, write_text
from fmlpipe.metrics import (
    ACC_GLOBAL_LOCAL,
    ACC_GLOBAL_TEST,
    ACC_PERSONALIZED,
    CONVERGED,
    CONVERGENCE,
    LOSS_GLOBAL_TEST,
    LR,
    PERSONALIZED_MODEL,
    Row,
    client_name,
    train_loss_models,
    train_loss_name,
)
from fmlpipe.model_files import architecture, save_model
from fmlpipe.stats.convergence import Convergence, all_converged, check_many, stretch_ends_from_lrs

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


def training_convergence(state: RunState, params: ConvergenceParams) -> dict[str, Convergence]:
    """Whether each model's mean train loss levelled off in every stretch of one learning rate."""
    lrs = [float(row[LR]) for row in state.rounds_log]
    models = train_loss_models(state.rounds_log[0])
    series = {model: [float(row[train_loss_name(model)]) for row in state.rounds_log] for model in models}
    return check_many(series, stretch_ends_from_lrs(lrs), params.window, params.tolerance, params.min_delta)


def convergence_line(checks: Mapping[str, Convergence]) -> str:
    """One line for the whole run: the first model that did not level off, else the first model."""
    name, check = next(((n, c) for n, c in checks.items() if not c.converged), next(iter(checks.items())))
    return f"{name} model {check.describe()}" if len(checks) > 1 else check.describe()


def final_metrics(alg: Algorithm, state: RunState, convergence: ConvergenceParams) -> dict[str, object]:
    """The last evaluated round's summaries, whether training converged and what the
    personalized model is: what DVC shows as this run's metrics."""
    last = state.history[-1]
    checks = training_convergence(state, convergence)
    metrics: dict[str, object] = {"algorithm": alg.name, "rounds": state.round,
                                  CONVERGED: all_converged(checks), CONVERGENCE: convergence_line(checks),
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


def write_run_outputs(run_dir: Path, alg: Algorithm, state: RunState, saved: dict[str, SavedModel],
                      convergence: ConvergenceParams) -> None:
    """Models (safetensors + architecture), per-round CSVs, final metrics and timings."""
    models = run_dir / "models"
    for name, (weights, arch) in saved.items():
        save_model(models / f"{name}.safetensors", weights, arch)
    write_json(models / "architectures.json", {name: arch for name, (_, arch) in saved.items()})
    write_text(run_dir / "history.csv", csv_text(state.history))
    write_text(run_dir / "rounds.csv", csv_text(state.rounds_log))
    write_text(run_dir / "clients.csv", csv_text(state.client_rows))
    write_json(run_dir / "metrics.json", final_metrics(alg, state, convergence))
    write_json(run_dir / "timing.json", {
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "seconds_per_round": state.train_seconds / max(state.round, 1),
    })
