from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.config.schema import OptimizerParams
from fmlpipe.fl.local_train import DivergenceError, LocalSettings, batch_indices, train_local
from fmlpipe.fl.optim import make_optimizer

SGD = OptimizerParams(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, state="per_round")


def test_epochs_cover_every_sample_once_per_epoch() -> None:
    s = LocalSettings(epochs=2, steps=None, batch_size=4, optimizer=SGD, grad_clip=None)
    batches = list(batch_indices(10, s, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(batches[:3]).tolist()) == list(range(10))


def test_steps_override_epochs_and_cycle() -> None:
    s = LocalSettings(epochs=1, steps=5, batch_size=4, optimizer=SGD, grad_clip=None)
    assert [len(b) for b in batch_indices(6, s, torch.Generator().manual_seed(0))] == [4, 2, 4, 2, 4]


def test_clipping_is_per_model() -> None:
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    x, y = torch.randn(8, 3) * 100, torch.randint(0, 2, (8,))
    before = [p.detach().clone() for p in a.parameters()]

    def loss(xb: torch.Tensor, yb: torch.Tensor):
        la, lb = F.cross_entropy(a(xb), yb), F.cross_entropy(b(xb), yb)
        return la + lb, {"a": la, "b": lb}

    s = LocalSettings(epochs=1, steps=None, batch_size=8, optimizer=SGD, grad_clip=0.01)
    train_local([a, b], [make_optimizer(m.parameters(), SGD, 1.0) for m in (a, b)], loss, x, y, s,
                gen=torch.Generator().manual_seed(0))
    step = torch.sqrt(sum(((p.detach() - q) ** 2).sum() for p, q in zip(a.parameters(), before)))
    assert step.item() == pytest.approx(0.01, rel=1e-4)  # lr 1 x clipped norm 0.01


def test_nan_loss_raises_divergence() -> None:
    model = nn.Linear(2, 2)
    x = torch.full((4, 2), float("nan"))
    s = LocalSettings(epochs=1, steps=None, batch_size=2, optimizer=SGD, grad_clip=None)

    def loss(xb: torch.Tensor, yb: torch.Tensor):
        v = F.cross_entropy(model(xb), yb)
        return v, {"m": v}

    with pytest.raises(DivergenceError, match="loss of the m model is nan"):
        train_local([model], [make_optimizer(model.parameters(), SGD, 0.1)], loss, x, torch.zeros(4, dtype=torch.int64),
                    s, torch.Generator().manual_seed(0))
