from __future__ import annotations

import pytest

from fmlpipe.config.schema import LrScheduleParams
from fmlpipe.fl.algorithms.fml import FmlParams, balance_at_round
from fmlpipe.fl.optim import lr_at_round
from fmlpipe.fl.sampling import participants_per_round, sample_clients


def _fml(**kw: object) -> FmlParams:
    base = dict(alpha=0.5, beta=0.1, schedule="step", alpha_target=0.5, beta_target=0.9, step_every=10, step_size=0.4)
    return FmlParams(**{**base, **kw})


def test_step_schedule_follows_the_authors_beta() -> None:
    p = _fml()
    betas = [balance_at_round(p, r, 40)[1] for r in (1, 10, 11, 20, 21, 40)]
    assert betas == pytest.approx([0.1, 0.1, 0.5, 0.5, 0.9, 0.9])
    assert balance_at_round(p, 35, 40)[0] == 0.5


def test_linear_schedule_hits_both_ends() -> None:
    p = _fml(schedule="linear", alpha=0.2, alpha_target=0.8)
    assert balance_at_round(p, 1, 4) == pytest.approx((0.2, 0.1))
    assert balance_at_round(p, 4, 4) == pytest.approx((0.8, 0.9))
    assert balance_at_round(p, 2, 4)[0] == pytest.approx(0.4)


def test_constant_schedule() -> None:
    assert balance_at_round(_fml(schedule="constant"), 30, 40) == (0.5, 0.1)


def test_lr_schedules() -> None:
    step = LrScheduleParams(name="step", step_rounds=2, gamma=0.5)
    assert [lr_at_round(1.0, step, r, 6) for r in range(1, 7)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = LrScheduleParams(name="cosine", step_rounds=1, gamma=1.0)
    assert lr_at_round(1.0, cosine, 1, 4) == 1.0
    assert lr_at_round(1.0, cosine, 3, 4) == pytest.approx(0.5)


def test_client_sampling_is_seeded_and_complete() -> None:
    assert participants_per_round(0.25, 20) == 5
    assert participants_per_round(3, 20) == 3
    a = sample_clients(20, 5, seed=1, rnd=4)
    assert a == sample_clients(20, 5, seed=1, rnd=4)
    assert len(set(a)) == 5 and a == sorted(a)
    assert a != sample_clients(20, 5, seed=1, rnd=5)
    assert sample_clients(20, 20, seed=1, rnd=4) == list(range(20))
