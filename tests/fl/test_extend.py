"""More rounds for a finished run: the train stage goes on from its checkpoint, and ends where a
fresh run of the new total ends, bit for bit; where that cannot hold it starts afresh."""

from __future__ import annotations

import shutil

import pytest

from fmlpipe.config import Params
from fmlpipe.paths import Paths
from fmlpipe.train.extend import extends
from fmlpipe.train.stage import run_train
from tests.conftest import with_section
from tests.fl.conftest import run_files, simulation_starts, small_params


def _with_fedavg_ft(params: Params) -> Params:
    return params.model_copy(update={"algorithms": {**params.algorithms, "fedavg_ft": {"finetune_epochs": 1}}})


@pytest.mark.parametrize(
    ("algorithm", "eval_every", "done", "total"),
    [
        # FedAvg-FT measures its fine-tuned models at the last round only: round 2, evaluated
        # as the last, must become an ordinary round's evaluation (every round is evaluated).
        ("fedavg_ft", 1, 2, 3),
        # Every 2nd round evaluated: round 3, evaluated only for being the last, must go.
        ("fml", 2, 3, 4),
    ],
)
def test_more_rounds_go_on_from_the_finished_run_bit_for_bit(
    algorithm: str,
    eval_every: int,
    done: int,
    total: int,
    project: Paths,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = _with_fedavg_ft(small_params(rounds=total, eval_every=eval_every, clients_per_round=0.5))
    fresh = Paths(tmp_path_factory.mktemp("fresh"))
    shutil.copytree(project.root / "data", fresh.root / "data")
    run_train(params, fresh, algorithm)

    run_train(with_section(params, "federation", rounds=done), project, algorithm)
    shorter = (project.run_dir(algorithm) / "history.csv").read_bytes()
    starts = simulation_starts(monkeypatch)
    run_train(params, project, algorithm)
    assert starts == [done]  # went on from the finished run, not from round 0
    assert run_files(project.run_dir(algorithm)) == run_files(fresh.run_dir(algorithm))
    assert (project.run_dir(algorithm) / "history.csv").read_bytes() != shorter


class _Scheduled:
    """An algorithm's schedule alone: ``stretch`` makes its value depend on the total."""

    def __init__(self, stretch: bool):
        self.stretch = stretch

    def round_values(self, rnd: int, rounds: int) -> dict[str, float]:
        return {"beta": rnd / rounds if self.stretch else 0.5}


@pytest.mark.parametrize(
    ("stretch", "lr_schedule", "done", "total", "expected"),
    [
        (False, "constant", 2, 3, True),
        (False, "step", 5, 9, True),  # a step lr counts rounds from the start, whatever the total
        (True, "constant", 2, 3, False),  # FML's linear α/β: stretched over the total
        (False, "cosine", 2, 3, False),  # so is a cosine lr
        (False, "constant", 3, 3, False),  # nothing to add
        (False, "constant", 3, 2, False),  # fewer rounds
        (False, "constant", 1, 2, False),  # a one-round run's engine choice may differ
    ],
)
def test_which_finished_runs_may_go_on(stretch: bool, lr_schedule: str, done: int, total: int, expected: bool) -> None:
    fed = small_params(rounds=total).federation
    fed = fed.model_copy(
        update={"lr_schedule": fed.lr_schedule.model_copy(update={"name": lr_schedule, "step_rounds": 2})}
    )
    assert extends(_Scheduled(stretch), fed, done) is expected  # type: ignore[arg-type]  # its schedule is all it reads


def test_a_run_whose_schedule_stretches_starts_afresh(project: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    params = small_params(rounds=3)
    linear = {**params.algorithms["fml"], "schedule": "linear", "beta_target": 0.9}
    params = params.model_copy(update={"algorithms": {**params.algorithms, "fml": linear}})
    run_train(with_section(params, "federation", rounds=2), project, "fml")
    starts = simulation_starts(monkeypatch)
    run_train(params, project, "fml")
    assert starts == [0]
