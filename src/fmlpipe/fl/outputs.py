"""The files a finished ``train@<algorithm>`` stage leaves in ``runs/<algorithm>/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.simulation import Row, RunState
from fmlpipe.io import write_json, write_text
from fmlpipe.model_files import save_model

FINAL_KEYS = ("acc_personalized", "acc_global_local", "acc_finetuned")


def client_name(cid: int) -> str:
    return f"client-{cid:03d}"


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


def final_metrics(algorithm: str, state: RunState) -> dict[str, object]:
    """The last evaluated round's summaries: what DVC shows as this run's metrics."""
    last = state.history[-1]
    metrics: dict[str, object] = {"algorithm": algorithm, "rounds": state.round}
    for key, value in last.items():
        if key.startswith(FINAL_KEYS) or key.startswith(("acc_global_test", "loss_global_test")):
            metrics[key] = value
    return metrics


def write_run_outputs(
    run_dir: Path,
    algorithm: str,
    state: RunState,
    global_arch: dict[str, object] | None,
    personal: dict[int, State],
    local_arch: dict[str, object] | None,
) -> None:
    """Models (safetensors + architecture), per-round CSVs, final metrics and timings."""
    models = run_dir / "models"
    architectures: dict[str, object] = {}
    if global_arch is not None and state.global_state is not None:
        save_model(models / "global.safetensors", state.global_state, global_arch)
        architectures["global"] = global_arch
    if local_arch is not None:
        for cid in sorted(personal):
            save_model(models / f"{client_name(cid)}.safetensors", personal[cid], local_arch)
            architectures[client_name(cid)] = local_arch
    write_json(models / "architectures.json", architectures)
    write_text(run_dir / "history.csv", csv_text(state.history))
    write_text(run_dir / "rounds.csv", csv_text(state.rounds_log))
    write_text(run_dir / "clients.csv", csv_text(state.client_rows))
    write_json(run_dir / "metrics.json", final_metrics(algorithm, state))
    write_json(run_dir / "timing.json", {
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "seconds_per_round": state.train_seconds / max(state.round, 1),
    })
