"""The comparison's pure parts on tiny hand-made runs: exact numbers, ties, formats, both figures."""

from __future__ import annotations

import pytest

from fmlpipe.evaluate.compare import AlgorithmSummary
from fmlpipe.evaluate.figures import MAX_GROUPED_CLIENTS, accuracy_by_round_png, client_accuracy_png
from fmlpipe.evaluate.runs import RoundPoint, RunRecord, Spread, Timing
from fmlpipe.evaluate.table import accuracy_by_round_csv, best, client_accuracy_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(name: str, means: list[float], globals_: list[float] | None, clients: list[float]) -> RunRecord:
    history = tuple(RoundPoint(r + 1, 4, m, None if globals_ is None else globals_[r]) for r, m in enumerate(means))
    spread = Spread(sum(clients) / len(clients), 0.0, min(clients), min(clients))
    return RunRecord(name, len(means), spread, None if globals_ is None else globals_[-1], history,
                     tuple(clients), Timing(1.5, 0.5, 0.75))


def test_best_names_every_tied_algorithm_and_skips_absent_values() -> None:
    runs = [_run("fml", [0.5], [0.25], [0.5, 1.0]), _run("fedavg", [0.5], [0.5], [0.75, 0.5]),
            _run("local", [0.5], None, [1.0, 0.0])]
    summaries = [AlgorithmSummary.of(r) for r in runs]
    assert [s.personalized.mean for s in summaries] == [0.75, 0.625, 0.5]
    assert best(summaries, "acc_personalized_mean") == ("fml",)
    assert best(summaries, "acc_global_test") == ("fedavg",)
    assert best(summaries[2:], "acc_global_test") == ()
    tied = [_run("a", [0.5], None, [0.5]), _run("b", [0.5], None, [0.5])]
    assert best([AlgorithmSummary.of(r) for r in tied], "acc_personalized_min") == ("a", "b")
    # clients 1.0 and 0.0: sample std sqrt(0.5), t(0.975, 1) = 12.7062047, half width 12.7062047 * 0.5
    half = 12.706204736174707 * 0.5
    row = summaries[2].to_dict()
    assert (row.pop("acc_personalized_ci_low"), row.pop("acc_personalized_ci_high")) == pytest.approx(
        (0.5 - half, 0.5 + half), rel=1e-12)
    assert row == {
        "rounds": 1, "acc_personalized_mean": 0.5, "acc_personalized_std": 0.0, "acc_personalized_min": 0.0,
        "acc_personalized_p10": 0.0, "best_round": 1, "acc_personalized_best_mean": 0.5, "acc_global_test": None,
        "train_seconds": 1.5, "converged": None, "convergence": ""}


def test_csvs_put_personalized_columns_first_then_globals() -> None:
    runs = [_run("fml", [0.5, 0.75], [0.25, 0.375], [0.5, 1.0]), _run("local", [0.125, 0.25], None, [0.25, 0.75])]
    assert accuracy_by_round_csv(runs) == "round,fml,local,fml_global\n1,0.5,0.125,0.25\n2,0.75,0.25,0.375\n"
    assert client_accuracy_csv(runs) == "client,fml,local\n0,0.5,0.25\n1,1.0,0.75\n"


def test_figures_for_few_and_many_clients_are_pngs() -> None:
    few = [_run("fml", [0.5, 0.75], [0.25, 0.375], [0.5, 1.0]), _run("local", [0.1, 0.2], None, [0.2, 0.7])]
    many = [_run(n, [0.5], None, [i / 40 for i in range(MAX_GROUPED_CLIENTS + 1)]) for n in ("fml", "local")]
    for png in (accuracy_by_round_png(few), client_accuracy_png(few), client_accuracy_png(many)):
        assert png[:8] == PNG_MAGIC
    assert client_accuracy_png(many) == client_accuracy_png(many)  # seeded jitter: same runs, same picture
