"""The comparison's numbers, one seed: each algorithm's standing with its uncertainty over
clients, and FML against each baseline with the clients paired.

With one seed the unit of replication is the client: every algorithm is scored on the same
clients' local test splits, so the per-client differences pair up, and their interval says how
close two methods can be before this run cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fmlpipe.evaluate.runs import RunRecord, Spread
from fmlpipe.metrics import CONVERGED, CONVERGENCE
from fmlpipe.stats.intervals import Interval, interval
from fmlpipe.stats.paired import PairedComparison, compare_paired

REFERENCE = "fml"  # the method under test: every other algorithm is set against it
CONFIDENCE = 0.95

Value = float | int | bool | str | None


@dataclass(frozen=True)
class AlgorithmSummary:
    """One algorithm's row: personalized accuracy at the last and at the best round, each an
    interval over clients, and whether its training converged."""

    algorithm: str
    personalized_model: str  # what its personalized accuracy measures
    rounds: int
    personalized: Spread  # last round, across clients
    last: Interval  # last round: mean over clients with its 95% t-interval
    best_round: int
    best: Interval  # the round of the highest mean (what the FML paper reports; optimistic)
    acc_global_test: float | None
    converged: bool | None  # None: the run recorded no check
    convergence: str
    train_seconds: float

    @classmethod
    def of(cls, run: RunRecord) -> AlgorithmSummary:
        best = run.best.round
        return cls(run.algorithm, run.personalized_model, run.rounds, run.personalized,
                   interval(run.final_clients, CONFIDENCE), best, interval(run.clients_at(best), CONFIDENCE),
                   run.acc_global_test, run.converged, run.convergence, run.timing.train_seconds)

    def to_dict(self) -> dict[str, Value]:
        """What ``reports/metrics.json`` holds for this algorithm (DVC metrics)."""
        p = self.personalized
        return {
            "rounds": self.rounds,
            "acc_personalized_mean": p.mean,
            "acc_personalized_std": p.std,
            "acc_personalized_min": p.min,
            "acc_personalized_p10": p.p10,
            "acc_personalized_ci_low": self.last.low,
            "acc_personalized_ci_high": self.last.high,
            "best_round": self.best_round,
            "acc_personalized_best_mean": self.best.mean,
            "acc_global_test": self.acc_global_test,
            "train_seconds": self.train_seconds,
            CONVERGED: self.converged,
            CONVERGENCE: self.convergence,
        }

@dataclass(frozen=True)
class Verdict:
    """The reference against one baseline at one point of training: the mean over clients of
    (reference − baseline), its interval, the paired t-test and the verdict for the reference."""

    reference: str
    baseline: str
    at: str  # "last round" or "best round"
    comparison: PairedComparison


def reference_of(runs: Sequence[RunRecord]) -> RunRecord | None:
    """The run every other one is set against: FML's, when it is among them."""
    return next((run for run in runs if run.algorithm == REFERENCE), None)


def verdicts(runs: Sequence[RunRecord]) -> list[Verdict]:
    """FML against every other algorithm, clients paired, at the last round and at each one's
    best round; none without an FML run."""
    reference = reference_of(runs)
    if reference is None:
        return []
    out = []
    for run in runs:
        if run is reference:
            continue
        out.append(Verdict(reference.algorithm, run.algorithm, "last round",
                           compare_paired(reference.final_clients, run.final_clients, CONFIDENCE)))
        out.append(Verdict(reference.algorithm, run.algorithm, "best round",
                           compare_paired(reference.clients_at(reference.best.round), run.clients_at(run.best.round),
                                          CONFIDENCE)))
    return out


def separable(found: Sequence[Verdict]) -> float | None:
    """The widest half-width of the paired intervals at the last round: differences smaller than
    this cannot be told from zero in this run (None without a paired comparison)."""
    widths = [v.comparison.high - v.comparison.mean_diff for v in found
              if v.at == "last round" and v.comparison.high is not None]
    return max(widths, default=None)
