"""The vectorized engine's batches are the sequential engine's batches, padded and stacked."""

from __future__ import annotations

import torch

from fmlpipe.fl.engines.batch_plan import plan_round
from fmlpipe.fl.local_train import LocalSettings, batch_indices
from fmlpipe.fl.seeding import SHUFFLE, generator
from tests.fl.fakes import SIZES, fake_data, federation


def test_plan_holds_exactly_the_sequential_batches_per_client() -> None:
    data = fake_data()
    settings = LocalSettings.from_params(federation(local_epochs=2))
    plan = plan_round(data, [0, 1, 2, 3], settings, seed=5, stream=SHUFFLE, rnd=4)
    assert plan.cids == [2, 0, 3, 1]  # most batches first
    assert plan.steps == [16, 10, 6, 2]  # 2 epochs of ceil(n / 8) batches
    for k, cid in enumerate(plan.cids):
        train = data.clients[cid].train
        expected = [train[b] for b in batch_indices(train.numel(), settings, generator(5, SHUFFLE, 4, cid))]
        assert len(expected) == plan.steps[k]
        for t, batch in enumerate(expected):
            real = plan.weight[t, k] > 0
            assert torch.equal(plan.rows[t, k][real], batch)
            assert real.tolist() == [True] * batch.numel() + [False] * (8 - batch.numel())
        assert not plan.weight[plan.steps[k] :, k].any()


def test_active_clients_are_a_shrinking_prefix_and_parts_keep_their_steps() -> None:
    data = fake_data()
    settings = LocalSettings.from_params(federation(local_epochs=1))
    plan = plan_round(data, range(len(SIZES)), settings, seed=0, stream=SHUFFLE, rnd=1)
    assert plan.active() == [4, 3, 3, 2, 2, 1, 1, 1]
    part = plan.part(2, 4)
    assert part.cids == plan.cids[2:] and part.num_steps == 3
    assert torch.equal(part.rows, plan.rows[:3, 2:])


def test_fixed_local_steps_cycle_over_reshuffled_epochs() -> None:
    data = fake_data()
    settings = LocalSettings.from_params(federation(local_steps=3))
    plan = plan_round(data, [1], settings, seed=0, stream=SHUFFLE, rnd=1)
    assert plan.steps == [3]  # client 1 has 5 samples: one batch per epoch, three epochs
    assert plan.weight.sum().item() == 15
