"""The summary's numbers: each (variant group, algorithm) pooled over its seeds, mean and sample
standard deviation, as Markdown and CSV; and every run's per-round series as CSV."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from fmlpipe.summary.collect import VariantRun


@dataclass(frozen=True)
class Pooled:
    group: str
    algorithm: str
    seeds: int
    personalized: tuple[float, float]  # mean, std over seeds of the mean personalized accuracy
    personalized_p10: tuple[float, float]
    global_test: tuple[float, float] | None  # None without a global model
    others: tuple[float, float] | None  # None when no client was singled out


def _stat(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def pooled(runs: Sequence[VariantRun]) -> list[Pooled]:
    """One row per (group, algorithm) in first-seen order."""
    keys = list(dict.fromkeys((r.group, r.algorithm) for r in runs))
    out = []
    for group, algorithm in keys:
        mine = [r for r in runs if (r.group, r.algorithm) == (group, algorithm)]
        globals_ = [r.record.acc_global_test for r in mine if r.record.acc_global_test is not None]
        final = [r.others[max(r.others)] for r in mine if r.singled_out and r.others]
        out.append(Pooled(group, algorithm, len(mine),
                          _stat([r.record.personalized.mean for r in mine]),
                          _stat([r.record.personalized.p10 for r in mine]),
                          _stat(globals_) if len(globals_) == len(mine) else None,
                          _stat(final) if final else None))
    return out


def _pm(value: tuple[float, float] | None, seeds: int) -> str:
    if value is None:
        return "–"
    return f"{100 * value[0]:.2f} ± {100 * value[1]:.2f}" if seeds > 1 else f"{100 * value[0]:.2f}"


def markdown(rows: Sequence[Pooled]) -> str:
    lines = [
        "# Variants compared",
        "",
        "Accuracy in % at the last round: mean ± sample std over the seeds a variant was run with",
        "(variants named `<name>_s<k>` are one variant under seeds k). *Personalized*: each client's own",
        "model on its local test split, averaged over clients (FedAvg/FedProx: the global model there).",
        "*Global*: the global model (FML: the aggregated meme) on the global test set. *Others*: the",
        "personalized mean of the clients that no variant gives a `models.local_overrides` entry, in",
        "every variant alike (the catfish effect: compare a variant's *others* with the reference's).",
        "",
        "| variant | algorithm | seeds | personalized | personalized p10 | global | others |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.group} | {r.algorithm} | {r.seeds} | {_pm(r.personalized, r.seeds)} | "
                     f"{_pm(r.personalized_p10, r.seeds)} | {_pm(r.global_test, r.seeds)} | {_pm(r.others, r.seeds)} |")
    return "\n".join(lines) + "\n"


def summary_csv(rows: Sequence[Pooled]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "algorithm", "seeds", "personalized_mean", "personalized_std", "personalized_p10_mean",
                     "personalized_p10_std", "global_mean", "global_std", "others_mean", "others_std"])
    for r in rows:
        cells = [*r.personalized, *r.personalized_p10, *(r.global_test or ("", "")), *(r.others or ("", ""))]
        writer.writerow([r.group, r.algorithm, r.seeds, *cells])
    return buffer.getvalue()


def by_round_csv(runs: Sequence[VariantRun]) -> str:
    """Long format: variant, algorithm, round and every per-round figure (blank where absent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "algorithm", "round", "acc_personalized_mean", "acc_global_test", "acc_others_mean",
                     "alpha", "beta"])
    for r in runs:
        for point in r.record.history:
            alpha, beta = r.balance.get(point.round, ("", ""))
            writer.writerow([r.variant, r.algorithm, point.round, point.acc_personalized_mean,
                             "" if point.acc_global_test is None else point.acc_global_test,
                             r.others.get(point.round, ""), alpha, beta])
    return buffer.getvalue()
