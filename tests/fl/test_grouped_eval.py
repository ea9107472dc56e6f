"""Many clients evaluated in shared batches give each client's own accuracy."""

from __future__ import annotations

import pytest
import torch

import fmlpipe.fl.engines.stacked_eval as stacked_eval
import fmlpipe.fl.evaluate as evaluate_module
from fmlpipe.fl.engines.vectorized import Vectorized
from fmlpipe.fl.evaluate import evaluate, grouped_accuracy
from fmlpipe.fl.modelpool import GLOBAL
from tests.fl.fakes import fake_data, federation, make_run


def test_one_model_on_every_client_split_at_once() -> None:
    data = fake_data()
    run = make_run("fedavg", "mlp", federation(), "sequential", data)
    module = run.pool.get(GLOBAL)
    per_client = [evaluate(module, *run.alg.client_xy(cid, "test"))[0] for cid in range(data.num_clients)]
    assert grouped_accuracy(module, data.train_x, data.train_y, [c.test for c in data.clients]) == per_client


@pytest.mark.parametrize("alone", [0, 10**6])  # every client alone / every client vmapped
def test_personal_models_many_at_a_time(alone: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacked_eval, "ALONE", alone)
    monkeypatch.setattr(stacked_eval, "EVAL_CLIENTS", 3)
    data = fake_data()
    run = make_run("fml", "cnn", federation(), "sequential", data)
    personal = run.backend.personal
    for cid in range(data.num_clients):  # distinct models per client
        personal.put(cid, {k: v * (1 + cid) for k, v in personal.get(cid).items()})
    expected = [run.personal_accuracy(cid) for cid in range(data.num_clients)]
    engine = run.backend.engine = Vectorized(run.pool)
    assert run.backend.evaluate(1, None) == expected  # on CPU: one client at a time, over the cores
    engine.evaluate = engine.evaluate_stacked  # type: ignore[method-assign]  # CUDA's grouped evaluation
    assert run.backend.evaluate(1, None) == expected


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_batches_spread_over_threads_give_the_same_bits_as_one_thread(model: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate_module, "EVAL_BATCH", 7)  # many batches, the last one short
    data = fake_data()
    module = make_run("fedavg", model, federation(), "sequential", data).pool.get(GLOBAL)
    splits = [c.test for c in data.clients]
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append((evaluate(module, data.test_x, data.test_y),
                            grouped_accuracy(module, data.train_x, data.train_y, splits)))
    finally:
        torch.set_num_threads(before)
    assert results[0] == results[1] == results[2]
    (accuracy, loss), _ = results[0]
    with torch.no_grad():  # the whole test set in one pass: the same hits, the loss to rounding
        logits = module.eval()(data.test_x)
    assert accuracy == float((logits.argmax(1) == data.test_y).float().mean())
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, data.test_y)), rel=1e-5)
