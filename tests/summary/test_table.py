"""The summary's ranked table: each variant's algorithms by personalized accuracy, highest first,
beside FML's seed-paired verdict against each, on hand-made pooled rows and verdicts."""

from __future__ import annotations

from fmlpipe.stats.intervals import Interval
from fmlpipe.stats.paired import BETTER, WORSE, PairedComparison, no_difference
from fmlpipe.summary.compare import Pooled, SeedVerdict
from fmlpipe.summary.table import markdown


def pooled(group: str, algorithm: str, mean: float, converged: int = 3) -> Pooled:
    acc = Interval(3, mean, 0.01, mean - 0.02, mean + 0.02, 0.95)
    return Pooled(group, algorithm, 3, acc, acc, acc, None, None, converged, 3)


def verdict(group: str, baseline: str, diff: float, verdict: str, metric: str = "personalized") -> SeedVerdict:
    comparison = PairedComparison(3, diff, diff - 0.01, diff + 0.01, 0.0123, verdict, 0.95)
    return SeedVerdict(group, "fml", baseline, baseline, metric, comparison, (0, 3, 0))


def ranked_rows(text: str) -> list[list[str]]:
    section = text.split("## Ranked within each variant")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| variant")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_each_variant_is_ranked_by_personalized_accuracy_beside_fmls_verdicts() -> None:
    rows = [pooled("a", "fml", 0.90), pooled("a", "fedrep", 0.93), pooled("a", "local", 0.85, converged=2),
            pooled("b", "fml", 0.80), pooled("b", "ditto", 0.70)]
    within = [verdict("a", "fedrep", -0.03, WORSE), verdict("a", "local", 0.05, BETTER),
              verdict("a", "local", 0.04, BETTER, metric="personalized (best round)"),
              verdict("b", "ditto", 0.10, no_difference(0.95))]
    got = ranked_rows(markdown(rows, within, [], None))
    assert [row[:3] for row in got] == [["a", "1", "fedrep"], ["a", "2", "fml"], ["a", "3", "local"],
                                        ["b", "1", "fml"], ["b", "2", "ditto"]]
    fedrep, fml, local, _, ditto = got
    assert fedrep[3:] == ["93.00 ± 1.00", "[91.0, 95.0]", "-3.0 [-4.0, -2.0]", "0.012", "worse", "converged"]
    assert fml[5:8] == ["", "", ""]  # FML is not set against itself
    assert local[5:] == ["+5.0 [+4.0, +6.0]", "0.012", "better", "**UNDER-TRAINED** (1 of 3 seeds)"]
    assert ditto[5:7] == ["+10.0 [+9.0, +11.0]", "0.012"]
    assert ditto[7] == "no difference at 95%"


def test_no_ranked_table_without_fml_verdicts() -> None:
    assert "## Ranked" not in markdown([pooled("a", "fml", 0.9)], [], [], None)
