"""The comparison itself: one summary per algorithm, as DVC metrics, a Markdown table and CSVs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from fmlpipe.evaluate.runs import RunRecord, Spread
from fmlpipe.evaluate.setting import Setting

Value = float | int | None


@dataclass(frozen=True)
class AlgorithmSummary:
    """One algorithm's final numbers: what ``reports/metrics.json`` holds for it."""

    algorithm: str
    rounds: int
    personalized: Spread
    acc_global_test: float | None  # None: the algorithm has no global model
    train_seconds: float

    @classmethod
    def of(cls, run: RunRecord) -> AlgorithmSummary:
        return cls(run.algorithm, run.rounds, run.personalized, run.acc_global_test, run.timing.train_seconds)

    def to_dict(self) -> dict[str, Value]:
        p = self.personalized
        return {
            "rounds": self.rounds,
            "acc_personalized_mean": p.mean,
            "acc_personalized_std": p.std,
            "acc_personalized_min": p.min,
            "acc_personalized_p10": p.p10,
            "acc_global_test": self.acc_global_test,
            "train_seconds": self.train_seconds,
        }


def best(summaries: Sequence[AlgorithmSummary], key: str) -> tuple[str, ...]:
    """The algorithms reaching the highest ``key`` (all of them on a tie; none if no one has it)."""
    values = {s.algorithm: s.to_dict()[key] for s in summaries}
    present = {name: value for name, value in values.items() if value is not None}
    if not present:
        return ()
    top = max(present.values())
    return tuple(name for name, value in present.items() if value == top)


def metrics_json(summaries: Sequence[AlgorithmSummary]) -> dict[str, dict[str, Value]]:
    return {s.algorithm: s.to_dict() for s in summaries}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def markdown(setting: Setting, summaries: Sequence[AlgorithmSummary]) -> str:
    """The report: the setting, the table, and which algorithms come out on top."""
    lines = ["# Personalized federated learning: comparison", "", "## Setting", ""]
    lines += [f"- {line}" for line in setting.lines()]
    lines += [
        "", "## Results (last round)", "",
        "| algorithm | personalized mean | std | worst client | 10th percentile | global model, test set "
        "| rounds | train seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        p = s.personalized
        lines.append(f"| {s.algorithm} | {_pct(p.mean)} | {100 * p.std:.1f} pp | {_pct(p.min)} | {_pct(p.p10)} "
                     f"| {_pct(s.acc_global_test)} | {s.rounds} | {s.train_seconds:.1f} |")
    lines += [
        "",
        "Personalized accuracy is each client's personalized model on its own local test split, "
        "summarized across clients (mean, population std in percentage points, the worst client, "
        "the 10th percentile). The global model is scored on the dataset's whole test set; "
        "`–`: the algorithm has no global model.",
        "",
        _verdict("Best mean personalized accuracy", summaries, best(summaries, "acc_personalized_mean"),
                 "acc_personalized_mean"),
        _verdict("Best global-model accuracy", summaries, best(summaries, "acc_global_test"), "acc_global_test"),
    ]
    return "\n".join(lines) + "\n"


def _verdict(label: str, summaries: Sequence[AlgorithmSummary], winners: tuple[str, ...], key: str) -> str:
    if not winners:
        return f"{label}: none of the algorithms has a global model."
    value = next(s.to_dict()[key] for s in summaries if s.algorithm == winners[0])
    assert isinstance(value, float)
    tie = " (tied)" if len(winners) > 1 else ""
    return f"{label}: **{' and '.join(winners)}** ({_pct(value)}){tie}."


def _csv(header: list[str], rows: Sequence[Sequence[Value]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def accuracy_by_round_csv(runs: Sequence[RunRecord]) -> str:
    """``round``, one column of mean personalized accuracy per algorithm, then ``<alg>_global``
    (global model on the test set) for those with a global model; the runs share their rounds."""
    with_global = [run for run in runs if run.acc_global_test is not None]
    header = ["round", *(run.algorithm for run in runs), *(f"{run.algorithm}_global" for run in with_global)]
    rows = [
        [point.round, *(run.history[i].acc_personalized_mean for run in runs),
         *(run.history[i].acc_global_test for run in with_global)]
        for i, point in enumerate(runs[0].history)
    ]
    return _csv(header, rows)


def client_accuracy_csv(runs: Sequence[RunRecord]) -> str:
    """``client`` and each algorithm's personalized accuracy of that client at the last round."""
    header = ["client", *(run.algorithm for run in runs)]
    rows = [[cid, *(run.final_clients[cid] for run in runs)] for cid in range(len(runs[0].final_clients))]
    return _csv(header, rows)
