"""Exact checks of the FML and FedProx losses on tiny models."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from fmlpipe.fl.algorithms.fedprox import FedProx
from fmlpipe.fl.algorithms.fml import FML
from fmlpipe.fl.local_train import BatchLoss
from fmlpipe.fl.objectives import kl_to_peer
from fmlpipe.fl.protocol import ClientTask
from tests.fl.fakes import fake_data, federation, make_run, section


def mutual_loss(local: nn.Module, meme: nn.Module, alpha: float, beta: float) -> BatchLoss:
    """FML's own objective on two modules, as its client round computes it."""
    alg = make_run("fml", "mlp", federation(), "sequential", fake_data()).alg
    assert isinstance(alg, FML)
    return alg.batch_loss([local, meme], ClientTask(0, 1, 0.1, {"alpha": alpha, "beta": beta}, None, {}))


def proximal_loss(model: nn.Module, mu: float) -> BatchLoss:
    """FedProx's own objective, anchored (as in its client round) at the state the client received."""
    received = {name: p.detach().clone() for name, p in model.named_parameters()}
    alg = make_run("fedprox", "mlp", federation(), "sequential", fake_data(),
                   section("fedprox").model_copy(update={"mu": mu})).alg
    assert isinstance(alg, FedProx)
    return alg.batch_loss([model], ClientTask(0, 1, 0.1, {}, received, {}))


def _pair() -> tuple[nn.Linear, nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(4, 3), nn.Linear(4, 3), torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0])


def test_kl_is_the_hand_computed_batchmean() -> None:
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    peer = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    total = 0.0
    for row, peer_row in zip(logits.tolist(), peer.tolist()):
        q = [math.exp(v) / sum(math.exp(u) for u in row) for v in row]
        p = [math.exp(v) / sum(math.exp(u) for u in peer_row) for v in peer_row]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))  # KL(p_peer || p_self)
    assert torch.isclose(kl_to_peer(logits, peer), torch.tensor(total / 2), atol=1e-7)


def test_local_loss_gives_no_gradient_to_the_meme_and_vice_versa() -> None:
    local, meme, x, y = _pair()
    _, parts = mutual_loss(local, meme, 0.5, 0.5)(x, y)
    parts["local"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in local.parameters())
    assert all(p.grad is None for p in meme.parameters())
    local.zero_grad(set_to_none=True)
    _, parts = mutual_loss(local, meme, 0.5, 0.5)(x, y)
    parts["meme"].backward()
    assert all(p.grad is None for p in local.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in meme.parameters())


def test_summed_loss_gives_each_model_its_own_gradient() -> None:
    local, meme, x, y = _pair()
    total, _ = mutual_loss(local, meme, 0.3, 0.7)(x, y)
    total.backward()
    joint = [p.grad.clone() for p in local.parameters()]
    local.zero_grad(set_to_none=True)
    meme.zero_grad(set_to_none=True)
    _, parts = mutual_loss(local, meme, 0.3, 0.7)(x, y)
    parts["local"].backward()
    for g_joint, p in zip(joint, local.parameters()):
        assert torch.allclose(g_joint, p.grad, atol=1e-7)


def test_alpha_one_reduces_the_local_model_to_plain_cross_entropy() -> None:
    local, meme, x, y = _pair()
    _, parts = mutual_loss(local, meme, 1.0, 0.5)(x, y)
    assert torch.equal(parts["local"], F.cross_entropy(local(x), y))


def test_mutual_loss_matches_the_formula() -> None:
    local, meme, x, y = _pair()
    alpha, beta = 0.3, 0.8
    _, parts = mutual_loss(local, meme, alpha, beta)(x, y)
    ol, om = local(x), meme(x)
    kl_local = F.kl_div(F.log_softmax(ol, 1), F.softmax(om, 1), reduction="sum") / x.shape[0]
    kl_meme = F.kl_div(F.log_softmax(om, 1), F.softmax(ol, 1), reduction="sum") / x.shape[0]
    assert torch.allclose(parts["local"], alpha * F.cross_entropy(ol, y) + (1 - alpha) * kl_local, atol=1e-7)
    assert torch.allclose(parts["meme"], beta * F.cross_entropy(om, y) + (1 - beta) * kl_meme, atol=1e-7)


def test_fedprox_gradient_is_data_gradient_plus_mu_times_drift_on_every_batch() -> None:
    model, _, x, y = _pair()
    mu = 0.5
    anchor = [p.detach().clone() for p in model.parameters()]
    loss = proximal_loss(model, mu)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for batch in range(3):
        opt.zero_grad()
        total, _ = loss(x, y)
        total.backward()
        prox_grads = [p.grad.clone() for p in model.parameters()]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for g, p, a in zip(prox_grads, model.parameters(), anchor):
            expected = p.grad + mu * (p.detach() - a)
            assert torch.allclose(g, expected, atol=1e-6)
            if batch > 0:  # after a step the weights have drifted: the term must act
                assert (mu * (p.detach() - a)).abs().sum() > 0
        opt.zero_grad()
        loss(x, y)[0].backward()
        opt.step()


def test_fedprox_term_is_squared_norm_times_mu_over_two() -> None:
    model, _, x, y = _pair()
    mu = 2.0
    loss = proximal_loss(model, mu)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    total, parts = loss(x, y)
    n = sum(p.numel() for p in model.parameters())
    assert torch.isclose(total - parts["global"], torch.tensor(0.5 * mu * n * 0.01), atol=1e-5)
