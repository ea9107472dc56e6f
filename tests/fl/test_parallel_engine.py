"""The parallel engine against the sequential one on one thread: the same bits for every
algorithm, whatever the number of workers, and a diverged client named."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fmlpipe.fl.local_train import ClientDiverged
from fmlpipe.fl.protocol import ClientResult
from fmlpipe.fl.threads import single_threaded_ops
from tests.fl.fakes import SIZES, fake_data, federation, make_run, sgd
from tests.fl.test_vectorized_engine import SECTIONS

CIDS = [3, 0, 2, 1]  # a round's sampled order, not sorted


def _round(engine: str, algorithm: str, model: str, threads: int, **fed: Any) -> tuple[list[ClientResult], dict]:
    run = make_run(algorithm, model, federation(**{"optimizer": sgd(), "grad_clip": 0.2, **fed}), engine, fake_data(),
                   SECTIONS[algorithm])
    global_state = run.global_state()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = []
        for rnd in (1, 2):  # a second round reuses the workers' modules and the stored personal states
            results = run.round(CIDS, global_state, rnd=rnd, lr=0.05)
    finally:
        torch.set_num_threads(before)
    return results, run.personal


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("algorithm", list(SECTIONS))
def test_parallel_equals_sequential_on_one_thread_bit_for_bit(algorithm: str, model: str) -> None:
    with single_threaded_ops():
        expected = _round("sequential", algorithm, model, threads=1)
    for workers in (1, 2, 3):
        got = _round("parallel", algorithm, model, threads=workers)
        for a, b in zip(expected[0], got[0], strict=True):
            assert a.losses == b.losses and a.num_samples == b.num_samples
            for key in a.sent or {}:
                assert torch.equal(a.sent[key], b.sent[key]), (workers, key)
        keeps = algorithm in ("fml", "local", "ditto", "apfl", "fedper", "fedrep")
        assert expected[1].keys() == got[1].keys() == set(range(len(SIZES)) if keeps else ())
        for cid, state in expected[1].items():
            assert all(torch.equal(t, got[1][cid][k]) for k, t in state.items())


def test_threads_are_restored_and_a_diverged_client_is_named() -> None:
    data = fake_data()
    data.train_x[data.clients[2].train] = float("nan")  # client 2's loss is NaN from its first batch
    run = make_run("fedavg", "mlp", federation(optimizer=sgd()), "parallel", data)
    before = torch.get_num_threads()
    with pytest.raises(ClientDiverged, match="loss of the global model is nan") as info:
        run.round(CIDS, run.global_state(), rnd=1, lr=0.05)
    assert info.value.cid == 2 and torch.get_num_threads() == before
