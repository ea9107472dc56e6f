"""A pipeline's numbers over seeds: each (variant, algorithm) pooled with its interval, FML
against each baseline within a variant, and each variant against a reference variant.

The unit of replication is the seed: one seed fixes the data split, the initial models and the
batches, so the runs of one seed pair up across algorithms and across variants (``VariantRun.seed``).
Within one seed the clients pair up too; that verdict is given per seed beside the seed-paired one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fmlpipe.evaluate.compare import CONFIDENCE, REFERENCE
from fmlpipe.stats.intervals import Interval, interval
from fmlpipe.stats.paired import BETTER, WORSE, PairedComparison, compare_paired
from fmlpipe.summary.collect import VariantRun

Metric = Callable[[VariantRun], float | None]

LAST: Metric = lambda r: r.record.personalized.mean  # noqa: E731 - named metrics read as a table
BEST: Metric = lambda r: r.record.best.acc_personalized_mean  # noqa: E731
P10: Metric = lambda r: r.record.personalized.p10  # noqa: E731
GLOBAL: Metric = lambda r: r.record.acc_global_test  # noqa: E731


def others_last(run: VariantRun) -> float | None:
    """The last round's mean personalized accuracy of the clients no variant singles out."""
    others = run.others
    return others[max(others)] if others else None


METRICS: dict[str, Metric] = {"personalized": LAST, "personalized (best round)": BEST, "global": GLOBAL,
                              "others": others_last}


@dataclass(frozen=True)
class Pooled:
    """One (variant group, algorithm) over its seeds: each figure an interval over seeds."""

    group: str
    algorithm: str
    seeds: int
    personalized: Interval  # the last round's mean personalized accuracy
    best: Interval  # the best round's (optimistic: what the FML paper reports)
    personalized_p10: Interval
    global_test: Interval | None  # None without a global model
    others: Interval | None  # None when no client was singled out
    converged: int  # seeds whose training levelled off
    checked: int  # seeds whose run recorded a check

    @property
    def training(self) -> str:
        """In words a reader cannot miss."""
        if self.checked == 0:
            return "not checked"
        if self.converged == self.seeds:
            return "converged"
        return f"**UNDER-TRAINED** ({self.seeds - self.converged} of {self.seeds} seeds)"


@dataclass(frozen=True)
class SeedVerdict:
    """Method A against B on one figure, seeds paired (A − B); ``clients`` counts the seeds in
    which the client-paired verdict went each way (better, no difference, worse)."""

    group: str
    a: str  # "fml", or a variant group
    b: str
    algorithm: str
    metric: str
    comparison: PairedComparison
    clients: tuple[int, int, int] | None = None


def _interval(values: Sequence[float | None]) -> Interval | None:
    present = [v for v in values if v is not None]
    return interval(present, CONFIDENCE) if present and len(present) == len(values) else None


def pooled(runs: Sequence[VariantRun]) -> list[Pooled]:
    """One row per (group, algorithm) in first-seen order."""
    keys = list(dict.fromkeys((r.group, r.algorithm) for r in runs))
    out = []
    for group, algorithm in keys:
        mine = [r for r in runs if (r.group, r.algorithm) == (group, algorithm)]
        checked = [r for r in mine if r.record.converged is not None]
        personalized = _interval([LAST(r) for r in mine])
        best = _interval([BEST(r) for r in mine])
        p10 = _interval([P10(r) for r in mine])
        assert personalized is not None and best is not None and p10 is not None
        out.append(Pooled(group, algorithm, len(mine), personalized, best, p10, _interval([GLOBAL(r) for r in mine]),
                          _interval([others_last(r) for r in mine]),
                          sum(1 for r in checked if r.record.converged), len(checked)))
    return out


def _by_seed(runs: Sequence[VariantRun]) -> dict[int, VariantRun]:
    return {r.seed: r for r in runs}


def _paired(a: dict[int, VariantRun], b: dict[int, VariantRun], metric: Metric) -> PairedComparison | None:
    seeds = sorted(set(a) & set(b))
    pairs = [(metric(a[s]), metric(b[s])) for s in seeds]
    if not pairs or any(x is None or y is None for x, y in pairs):
        return None
    return compare_paired([float(x) for x, _ in pairs if x is not None], [float(y) for _, y in pairs if y is not None],
                          CONFIDENCE)


def _client_counts(a: dict[int, VariantRun], b: dict[int, VariantRun]) -> tuple[int, int, int]:
    """Per shared seed, the verdict of A against B with the clients paired at the last round."""
    counts = [0, 0, 0]
    for seed in sorted(set(a) & set(b)):
        verdict = compare_paired(a[seed].record.final_clients, b[seed].record.final_clients, CONFIDENCE).verdict
        counts[0 if verdict == BETTER else 2 if verdict == WORSE else 1] += 1
    return counts[0], counts[1], counts[2]


def within(runs: Sequence[VariantRun]) -> list[SeedVerdict]:
    """In each variant group, FML against every other algorithm: personalized accuracy at the
    last and at the best round, seeds paired, with the per-seed client-paired verdicts."""
    out = []
    for group in dict.fromkeys(r.group for r in runs):
        mine = [r for r in runs if r.group == group]
        reference = _by_seed([r for r in mine if r.algorithm == REFERENCE])
        if not reference:
            continue
        for algorithm in dict.fromkeys(r.algorithm for r in mine if r.algorithm != REFERENCE):
            other = _by_seed([r for r in mine if r.algorithm == algorithm])
            for metric in ("personalized", "personalized (best round)"):
                found = _paired(reference, other, METRICS[metric])
                if found is not None:
                    counts = _client_counts(reference, other) if metric == "personalized" else None
                    out.append(SeedVerdict(group, REFERENCE, algorithm, algorithm, metric, found, counts))
    return out


def against(runs: Sequence[VariantRun], reference: str) -> list[SeedVerdict]:
    """Each variant group's algorithms against the same algorithm in the ``reference`` group,
    seeds paired, on every figure both have (personalized, global, and the others' accuracy)."""
    out = []
    base = {algorithm: _by_seed([r for r in runs if (r.group, r.algorithm) == (reference, algorithm)])
            for algorithm in dict.fromkeys(r.algorithm for r in runs if r.group == reference)}
    for group in dict.fromkeys(r.group for r in runs if r.group != reference):
        for algorithm in dict.fromkeys(r.algorithm for r in runs if r.group == group):
            if algorithm not in base:
                continue
            mine = _by_seed([r for r in runs if (r.group, r.algorithm) == (group, algorithm)])
            for metric, read in METRICS.items():
                found = _paired(mine, base[algorithm], read)
                if found is not None:
                    out.append(SeedVerdict(group, group, reference, algorithm, metric, found))
    return out
