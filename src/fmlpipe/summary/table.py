"""The summary rendered: each (variant group, algorithm) over its seeds as Markdown and CSV, the
seed-paired verdicts, and every run's per-round series as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from fmlpipe.stats.intervals import Interval
from fmlpipe.summary.collect import VariantRun
from fmlpipe.summary.compare import Pooled, SeedVerdict

INTRO = [
    "# Variants compared",
    "",
    "Accuracy in % at the last round: mean ± sample std over the seeds a variant was run with",
    "(variants named `<name>_s<k>` are one variant under seeds k), then the 95% t-interval of the mean",
    "over seeds. *Personalized*: each client's personalized model on its local test split, averaged",
    "over clients (what that model is, per algorithm, is in each variant's `reports/comparison.md`;",
    "FedAvg/FedProx: the global model). *Best round*: the evaluated round of the highest mean, what the",
    "FML paper reports; optimistic, since it is chosen after seeing test accuracy. *Global*: the global",
    "model (FML: the aggregated meme) on the global test set. *Others*: the personalized mean of the",
    "clients that no variant gives a `models.local_overrides` entry, in every variant alike (the catfish",
    "effect: compare a variant's *others* with the reference's). *Training*: whether every seed's",
    "training loss levelled off (`convergence` in params).",
    "",
]


def _pm(value: Interval | None) -> str:
    if value is None:
        return "–"
    if value.std is None:
        return f"{100 * value.mean:.2f}"
    return f"{100 * value.mean:.2f} ± {100 * value.std:.2f}"


def _ci(value: Interval | None) -> str:
    if value is None or value.low is None or value.high is None:
        return "–"
    return f"[{100 * value.low:.1f}, {100 * value.high:.1f}]"


def _pp(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else f"{100 * value:{'+' if signed else ''}.1f}"


def markdown(rows: Sequence[Pooled], within: Sequence[SeedVerdict], against: Sequence[SeedVerdict],
             reference: str | None) -> str:
    lines = list(INTRO)
    short = [f"{r.group}/{r.algorithm}" for r in rows if r.checked and r.converged < r.seeds]
    if short:
        lines += [f"**Under-trained: {', '.join(short)}.** Their training loss had not levelled off in every "
                  "seed: their numbers are not final.", ""]
    lines += [
        "| variant | algorithm | seeds | personalized | 95% CI | best round | personalized p10 | global | others "
        "| training |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.group} | {r.algorithm} | {r.seeds} | {_pm(r.personalized)} | {_ci(r.personalized)} "
                     f"| {_pm(r.best)} | {_pm(r.personalized_p10)} | {_pm(r.global_test)} | {_pm(r.others)} "
                     f"| {r.training} |")
    if within:
        lines += _ranked(rows, within)
        lines += ["", "## FML against each baseline, seeds paired", "",
                  "Mean over seeds of (FML − baseline) in percentage points, its 95% t-interval (seeds paired), the "
                  "paired t-test's p-value and the verdict for FML. *Per seed, clients paired*: in how many seeds "
                  "FML was better / not distinguishable / worse with the clients paired at the last round.", "",
                  "| variant | baseline | figure | FML − baseline | 95% CI | p | verdict | per seed, clients paired |",
                  "|---|---|---|---:|---:|---:|---|---|"]
        lines += [_verdict_row(v, v.b) for v in within]
    if against and reference is not None:
        lines += ["", f"## Each variant against `{reference}`, seeds paired", "",
                  f"Mean over seeds of (variant − {reference}) for the same algorithm, in percentage points.", "",
                  f"| variant | algorithm | figure | variant − {reference} | 95% CI | p | verdict |",
                  "|---|---|---|---:|---:|---:|---|"]
        lines += [_verdict_row(v, v.algorithm, counts=False) for v in against]
    return "\n".join(lines) + "\n"


def _ranked(rows: Sequence[Pooled], within: Sequence[SeedVerdict]) -> list[str]:
    """Each variant group that has FML verdicts, its algorithms ordered by personalized accuracy
    (mean over seeds, highest first; ties keep params order), each beside FML's seed-paired
    verdict against it."""
    verdicts = {(v.group, v.b): v.comparison for v in within if v.metric == "personalized"}
    groups = list(dict.fromkeys(v.group for v in within))
    lines = ["", "## Ranked within each variant", "",
             "Each variant's algorithms by personalized accuracy at the last round (mean over seeds, highest "
             "first), with FML − the algorithm, seeds paired (the table below).", "",
             "| variant | rank | algorithm | personalized | 95% CI | FML − it [95% CI] | p | verdict for FML "
             "| training |",
             "|---|---:|---|---|---|---:|---:|---|---|"]
    for group in groups:
        mine = sorted((r for r in rows if r.group == group), key=lambda r: -r.personalized.mean)
        for rank, r in enumerate(mine, start=1):
            c = verdicts.get((group, r.algorithm))
            versus = "" if c is None else _pp(c.mean_diff, signed=True)
            if c is not None and c.low is not None and c.high is not None:
                versus += f" [{_pp(c.low, signed=True)}, {_pp(c.high, signed=True)}]"
            p = "" if c is None else "–" if c.p_value is None else f"{c.p_value:.2g}"
            lines.append(f"| {group} | {rank} | {r.algorithm} | {_pm(r.personalized)} | {_ci(r.personalized)} "
                         f"| {versus} | {p} | {'' if c is None else c.verdict} | {r.training} |")
    return lines


def _verdict_row(v: SeedVerdict, second: str, counts: bool = True) -> str:
    c = v.comparison
    p = "–" if c.p_value is None else f"{c.p_value:.3g}"
    ci = "–" if c.low is None or c.high is None else f"[{_pp(c.low)}, {_pp(c.high)}]"
    row = f"| {v.group} | {second} | {v.metric} | {_pp(c.mean_diff, signed=True)} | {ci} | {p} | {c.verdict} |"
    if counts:
        row += f" {'–' if v.clients is None else '{} / {} / {}'.format(*v.clients)} |"
    return row


def _cells(value: Interval | None) -> list[object]:
    if value is None:
        return ["", "", "", ""]
    return [value.mean, value.std if value.std is not None else 0.0,
            "" if value.low is None else value.low, "" if value.high is None else value.high]


def summary_csv(rows: Sequence[Pooled]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    figures = ("personalized", "best", "personalized_p10", "global", "others")
    stats = ("mean", "std", "low", "high")
    writer.writerow(["variant", "algorithm", "seeds", *(f"{f}_{s}" for f in figures for s in stats), "converged_seeds"])
    for r in rows:
        values = (r.personalized, r.best, r.personalized_p10, r.global_test, r.others)
        cells = [c for value in values for c in _cells(value)]
        writer.writerow([r.group, r.algorithm, r.seeds, *cells, r.converged])
    return buffer.getvalue()


def verdicts_csv(found: Sequence[SeedVerdict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "a", "b", "algorithm", "figure", "seeds", "mean_diff", "low", "high", "p", "verdict"])
    for v in found:
        c = v.comparison
        writer.writerow([v.group, v.a, v.b, v.algorithm, v.metric, c.n, c.mean_diff, "" if c.low is None else c.low,
                         "" if c.high is None else c.high, "" if c.p_value is None else c.p_value, c.verdict])
    return buffer.getvalue()


def by_round_csv(runs: Sequence[VariantRun]) -> str:
    """Long format: variant, algorithm, round and every per-round figure (blank where absent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "algorithm", "round", "acc_personalized_mean", "acc_global_test", "acc_others_mean",
                     "alpha", "beta"])
    for r in runs:
        balance, others = r.balance, r.others
        for point in r.record.history:
            alpha, beta = balance.get(point.round, ("", ""))
            writer.writerow([r.variant, r.algorithm, point.round,
                             "" if point.acc_personalized_mean is None else point.acc_personalized_mean,
                             "" if point.acc_global_test is None else point.acc_global_test,
                             others.get(point.round, ""), alpha, beta])
    return buffer.getvalue()
