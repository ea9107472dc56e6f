"""Read what each ``train@<algorithm>`` stage left in ``runs/<algorithm>/`` into typed records.

Every file is checked as it is read (present, parseable, holding the values the report needs,
ending at the same round as ``metrics.json``), so a missing, partial or stale run fails here,
before the stage writes anything.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmlpipe.config.schema import ConvergenceParams
from fmlpipe.errors import DataError
from fmlpipe.evaluate.convergence import convergence_line, training_convergence
from fmlpipe.metrics import (
    ACC_GLOBAL_TEST,
    ACC_PERSONALIZED,
    ALPHA,
    BETA,
    CLIENT,
    LR,
    PARTICIPANTS,
    PERSONALIZED_MODEL,
    ROUND,
    STATS,
    stat_name,
    train_loss_name,
)
from fmlpipe.paths import Paths
from fmlpipe.stats.convergence import all_converged


@dataclass(frozen=True)
class Spread:
    """A per-client metric across clients: mean, population std, worst client, 10th percentile."""

    mean: float
    std: float
    min: float
    p10: float


@dataclass(frozen=True)
class RoundPoint:
    """One evaluated round of ``history.csv``; ``acc_global_test`` is None without a global
    model, ``balance`` (FML's alpha and beta in force) None for other algorithms."""

    round: int
    participants: int
    acc_personalized_mean: float | None  # None: not measured that round (FedAvg-FT: the last round only)
    acc_global_test: float | None
    balance: tuple[float, float] | None = None


@dataclass(frozen=True)
class Timing:
    """``timing.json``: wall seconds spent training and evaluating."""

    train_seconds: float
    eval_seconds: float
    seconds_per_round: float


@dataclass(frozen=True)
class RunRecord:
    """One algorithm's finished run, as the comparison and the summary need it."""

    algorithm: str
    rounds: int
    personalized: Spread
    acc_global_test: float | None
    history: tuple[RoundPoint, ...]
    final_clients: tuple[float, ...]  # acc_personalized at the last evaluated round, index = client id
    timing: Timing
    clients_by_round: Mapping[int, tuple[float, ...]] = field(default_factory=dict)  # every evaluated round
    converged: bool | None = None  # whether training levelled off (``evaluate.convergence``); None: not judged
    convergence: str = ""  # why
    personalized_model: str = ""  # what ``acc_personalized`` measures

    @property
    def evaluated_rounds(self) -> tuple[int, ...]:
        return tuple(point.round for point in self.history)

    @property
    def best(self) -> RoundPoint:
        """The evaluated round of the highest mean personalized accuracy (the earliest on a tie):
        what the FML paper reports; optimistic, since it picks the round after seeing test accuracy."""
        measured = [point for point in self.history if point.acc_personalized_mean is not None]
        return max(measured, key=lambda point: (point.acc_personalized_mean or 0.0, -point.round))

    def clients_at(self, rnd: int) -> tuple[float, ...]:
        """Every client's personalized accuracy at evaluated round ``rnd``."""
        return self.clients_by_round.get(rnd, self.final_clients if rnd == self.rounds else ())


def rerun_hint(algorithm: str) -> str:
    return f"run `dvc repro` or `fmlpipe run-stage train --algorithm {algorithm}`"


def read_json(path: Path, hint: str) -> dict[str, Any]:
    """A JSON object from ``path``; a missing or malformed file is a :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"{path} is missing: {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}): {hint}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object: {hint}")
    return data


def json_number(data: dict[str, Any], key: str, path: Path, hint: str) -> float:
    """``data[key]`` as a finite float."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"{path}: {key!r} is {value!r}, expected a finite number: {hint}")
    return float(value)


def optional_number(data: dict[str, Any], key: str, path: Path, hint: str) -> float | None:
    """``data[key]`` as a finite float, or None when absent or null."""
    return None if data.get(key) is None else json_number(data, key, path, hint)


def _read_csv(path: Path, columns: Sequence[str], hint: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} is missing: {hint}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}: {hint}")
    if not rows:
        raise DataError(f"{path}: no rows: {hint}")
    return rows


def _cell(row: dict[str, str], key: str, path: Path, hint: str) -> float:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key}={row.get(key)!r} is not a number: {hint}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: {key}={value} is not finite: {hint}")
    return value


def _optional_cell(row: dict[str, str], key: str, path: Path, hint: str) -> float | None:
    """A number, or None for an empty cell (a figure not measured that round)."""
    return None if row.get(key, "") == "" else _cell(row, key, path, hint)


def _round(row: dict[str, str], path: Path, hint: str) -> int:
    value = _cell(row, ROUND, path, hint)
    if value != int(value) or value < 1:
        raise DataError(f"{path}: round={row[ROUND]!r} is not a round number: {hint}")
    return int(value)


def _training(path: Path, rounds: int, params: ConvergenceParams, hint: str) -> tuple[bool, str]:
    """Whether the run's training levelled off, judged from ``rounds.csv``: its lr and train
    losses (a non-finite loss is a diverged run, which the check reports, not bad input)."""
    rows = _read_csv(path, [ROUND, LR], hint)
    if [_round(row, path, hint) for row in rows] != list(range(1, rounds + 1)):
        raise DataError(f"{path}: rounds are not 1..{rounds} (a stale or partial run): {hint}")
    losses = [key for key in rows[0] if key.startswith(train_loss_name(""))]
    if not losses:
        raise DataError(f"{path}: no {train_loss_name('<model>')} column: {hint}")

    def number(row: dict[str, str], key: str) -> float:
        try:
            return float(row[key])
        except (TypeError, ValueError):
            raise DataError(f"{path}: {key}={row.get(key)!r} is not a number: {hint}") from None

    table = [{LR: _cell(row, LR, path, hint), **{k: number(row, k) for k in losses}} for row in rows]
    checks = training_convergence(table, params)
    return all_converged(checks), convergence_line(checks)


def load_run(paths: Paths, algorithm: str, convergence: ConvergenceParams) -> RunRecord:
    """Read and cross-check ``runs/<algorithm>/{metrics.json,history.csv,clients.csv,timing.json}``,
    and judge from ``rounds.csv`` whether its training levelled off."""
    run_dir = paths.run_dir(algorithm)
    hint = rerun_hint(algorithm)
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(metrics_path, hint)
    if metrics.get("algorithm") != algorithm:
        raise DataError(f"{metrics_path}: algorithm is {metrics.get('algorithm')!r}, expected {algorithm!r}: {hint}")
    rounds = metrics.get("rounds")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise DataError(f"{metrics_path}: 'rounds' is {rounds!r}, expected a round number >= 1: {hint}")
    spread = Spread(*(json_number(metrics, stat_name(ACC_PERSONALIZED, stat), metrics_path, hint) for stat in STATS))
    global_test = optional_number(metrics, ACC_GLOBAL_TEST, metrics_path, hint)
    converged, why = _training(run_dir / "rounds.csv", rounds, convergence, hint)

    history_path = run_dir / "history.csv"
    mean_key = stat_name(ACC_PERSONALIZED, "mean")
    columns = [ROUND, PARTICIPANTS, mean_key]
    columns += [ACC_GLOBAL_TEST] if global_test is not None else []
    history = tuple(
        RoundPoint(_round(row, history_path, hint), int(_cell(row, PARTICIPANTS, history_path, hint)),
                   _optional_cell(row, mean_key, history_path, hint),
                   _cell(row, ACC_GLOBAL_TEST, history_path, hint) if global_test is not None else None,
                   (_cell(row, ALPHA, history_path, hint), _cell(row, BETA, history_path, hint))
                   if ALPHA in row else None)
        for row in _read_csv(history_path, columns, hint)
    )
    numbers = [point.round for point in history]
    if numbers != sorted(set(numbers)) or numbers[-1] != rounds:
        raise DataError(f"{history_path}: rounds {numbers} do not end at round {rounds} of "
                        f"{metrics_path} (a stale or partial run): {hint}")

    clients_path = run_dir / "clients.csv"
    by_round: dict[int, list[tuple[int, float]]] = {}
    for row in _read_csv(clients_path, [ROUND, CLIENT, ACC_PERSONALIZED], hint):
        accuracy = _optional_cell(row, ACC_PERSONALIZED, clients_path, hint)
        if accuracy is not None:
            by_round.setdefault(_round(row, clients_path, hint), []).append(
                (int(_cell(row, CLIENT, clients_path, hint)), accuracy))
    last = by_round.get(rounds, [])
    final = dict(last)
    if not last or sorted(final) != list(range(len(last))):  # a repeated client shrinks the dict
        raise DataError(f"{clients_path}: round {rounds} does not list clients 0..N-1 once each "
                        f"(found {sorted(cid for cid, _ in last)}): {hint}")
    clients_by_round = {rnd: tuple(acc for _, acc in sorted(rows)) for rnd, rows in by_round.items()
                        if sorted(cid for cid, _ in rows) == list(range(len(final)))}

    timing_path = run_dir / "timing.json"
    timing_data = read_json(timing_path, hint)
    timing = Timing(*(json_number(timing_data, key, timing_path, hint)
                      for key in ("train_seconds", "eval_seconds", "seconds_per_round")))
    return RunRecord(algorithm, rounds, spread, global_test, history, tuple(final[cid] for cid in sorted(final)),
                     timing, clients_by_round, converged, why,
                     str(metrics.get(PERSONALIZED_MODEL, "")))


def load_runs(paths: Paths, algorithms: Sequence[str], convergence: ConvergenceParams) -> tuple[RunRecord, ...]:
    """Every algorithm's run, checked to be comparable: same evaluated rounds, same clients."""
    runs = tuple(load_run(paths, algorithm, convergence) for algorithm in algorithms)
    for run in runs[1:]:
        first = runs[0]
        if run.evaluated_rounds != first.evaluated_rounds:
            raise DataError(
                f"evaluated rounds differ: {first.algorithm} has {list(first.evaluated_rounds)}, "
                f"{run.algorithm} has {list(run.evaluated_rounds)} (in {paths.run_dir(run.algorithm)}/history.csv); "
                f"all algorithms must run with the same federation params: run `dvc repro`")
        if len(run.final_clients) != len(first.final_clients):
            raise DataError(
                f"client counts differ: {first.algorithm} has {len(first.final_clients)}, {run.algorithm} has "
                f"{len(run.final_clients)} (in {paths.run_dir(run.algorithm)}/clients.csv); "
                f"all algorithms must train on the same partition: run `dvc repro`")
    return runs
