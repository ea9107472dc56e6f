"""The optimizer state of a model that stays on its client persists across rounds: FML's local
model over 3 rounds held to an independent plain-PyTorch reference that creates the local
model's optimizer once and the meme's every round (as the FML authors' code does)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from fmlpipe.fl.local_train import LocalSettings, batch_indices
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, init_state
from fmlpipe.fl.personal_parts import split
from fmlpipe.fl.seeding import GLOBAL_INIT, LOCAL_INIT, SHUFFLE, generator
from fmlpipe.models.registry import build_model
from tests.fl.fakes import CLASSES, SHAPE, fake_data, federation, make_run, section, sgd

ROUNDS, CID, LR, ALPHA, BETA = 3, 0, 0.05, 0.3, 0.8


def _fml_run(state: str):  # type: ignore[no-untyped-def]
    fed = federation(optimizer=sgd(lr=LR, state=state), clients_per_round=1)
    params = section("fml").model_copy(update={"alpha": ALPHA, "beta": BETA})
    return make_run("fml", "mlp", fed, "sequential", fake_data(), params)


def _simulated(state: str) -> dict[str, torch.Tensor]:
    """Client 0's local model after 3 rounds in which it alone takes part."""
    run = _fml_run(state)
    glob = run.global_state()
    for rnd in range(1, ROUNDS + 1):
        results = run.round([CID], glob, rnd, LR)
        glob = run.alg.server_update(glob, results)
    return split(run.personal[CID]).own


def _reference() -> dict[str, torch.Tensor]:
    """The same 3 rounds written out with plain PyTorch: one SGD optimizer for the local model
    for the whole run; a fresh one for the meme, started from the global model, every round."""
    data, run = fake_data(), _fml_run("persistent")
    fed = run.alg.ctx.federation
    local, meme = build_model("mlp", SHAPE, CLASSES), build_model("mlp", SHAPE, CLASSES)
    local.load_state_dict(init_state(build_model("mlp", SHAPE, CLASSES), 0, LOCAL_INIT, CID))
    glob = init_state(build_model("mlp", SHAPE, CLASSES), 0, GLOBAL_INIT)
    opt = fed.optimizer
    local_opt = torch.optim.SGD(local.parameters(), lr=LR, momentum=opt.momentum, weight_decay=opt.weight_decay)
    x, y = data.train_x[data.clients[CID].train], data.train_y[data.clients[CID].train]
    settings = LocalSettings.from_params(fed)
    for rnd in range(1, ROUNDS + 1):
        meme.load_state_dict(glob)
        meme_opt = torch.optim.SGD(meme.parameters(), lr=LR, momentum=opt.momentum, weight_decay=opt.weight_decay)
        for idx in batch_indices(x.shape[0], settings, generator(0, SHUFFLE, rnd, CID)):
            out_l, out_m = local(x[idx]), meme(x[idx])
            # KL(p_peer || p_self) with the peer fixed, batch mean, written out from its definition
            p_m, p_l = F.softmax(out_m.detach(), 1), F.softmax(out_l.detach(), 1)
            kl_l = (p_m * (p_m.log() - F.log_softmax(out_l, 1))).sum(1).mean()
            kl_m = (p_l * (p_l.log() - F.log_softmax(out_m, 1))).sum(1).mean()
            loss_l = ALPHA * F.cross_entropy(out_l, y[idx]) + (1 - ALPHA) * kl_l
            loss_m = BETA * F.cross_entropy(out_m, y[idx]) + (1 - BETA) * kl_m
            local_opt.zero_grad()
            meme_opt.zero_grad()
            (loss_l + loss_m).backward()
            local_opt.step()
            meme_opt.step()
        glob = {k: v.detach().clone() for k, v in meme.state_dict().items()}  # the only client: the mean is its meme
    return {k: v.detach().clone() for k, v in local.state_dict().items()}


def test_fml_local_model_keeps_its_momentum_across_rounds_as_the_reference_does() -> None:
    expected, got = _reference(), _simulated("persistent")
    assert expected.keys() == got.keys()
    for name in expected:  # fused SGD rounds differently from the for-each one by float ulps
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6)
    fresh = _simulated("per_round")  # momentum reset each round: the old behaviour, measurably different
    assert max(float((fresh[n] - expected[n]).abs().max()) for n in expected) > 1e-3


def test_the_kept_state_is_the_momentum_buffer_of_every_local_parameter() -> None:
    run = _fml_run("persistent")
    glob = run.global_state()
    run.round([CID], glob, 1, LR)
    parts = split(run.personal[CID])
    assert set(parts.optim) == {LOCAL}  # the local model's optimizer only: the meme's starts fresh
    names = {name for name, _ in build_model("mlp", SHAPE, CLASSES).named_parameters()}
    assert set(parts.optim[LOCAL]) == {f"{n}/momentum_buffer" for n in names}
    assert all(t.abs().sum() > 0 for t in parts.optim[LOCAL].values())  # trained: not the zeros it started from
    assert GLOBAL not in parts.optim and "meme" not in parts.optim
    assert split(_fml_run("per_round").alg.initial_personal(CID, run.pool)).optim == {}
