"""Many clients evaluated in shared batches give each client's own accuracy."""

from __future__ import annotations

import pytest

import fmlpipe.fl.stacked_eval as stacked_eval
from fmlpipe.fl.evaluate import evaluate, grouped_accuracy
from fmlpipe.fl.modelpool import GLOBAL
from fmlpipe.fl.stacked_eval import stacked_personal_accuracies

from tests.fl.fakes import fake_data, federation, make_algorithm


def test_one_model_on_every_client_split_at_once() -> None:
    data = fake_data()
    alg = make_algorithm("fedavg", "mlp", federation(), "sequential", data)
    module = alg.ctx.pool.get(GLOBAL)
    per_client = [evaluate(module, *alg.client_xy(cid, "test"))[0] for cid in range(data.num_clients)]
    assert grouped_accuracy(module, data.train_x, data.train_y, [c.test for c in data.clients]) == per_client


@pytest.mark.parametrize("alone", [0, 10**6])  # every client alone / every client vmapped
def test_personal_models_many_at_a_time(alone: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacked_eval, "ALONE", alone)
    monkeypatch.setattr(stacked_eval, "EVAL_CLIENTS", 3)
    data = fake_data()
    alg = make_algorithm("fml", "cnn", federation(), "sequential", data)
    for cid in range(data.num_clients):  # distinct models per client
        alg.ctx.personal.put(cid, {k: v * (1 + cid) for k, v in alg.ctx.personal.get(cid).items()})
    expected = [alg.personal_accuracy(cid) for cid in range(data.num_clients)]
    assert stacked_personal_accuracies(alg.ctx.personal, data) == expected
