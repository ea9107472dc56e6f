"""One step of each personalized baseline's update rule, on a model of three scalars, against
values computed by hand here: Ditto, FedPer, FedRep and APFL; and the aggregation of bodies only.

The model: logits z = (h0 * b * x, h1 * b * x) for a scalar input x, with body weight b and
head weights (h0, h1). With p = softmax(z) and label y, the cross-entropy's gradients are
dz_j = p_j - [j == y], dh_j = dz_j * b * x and db = (dz_0 * h0 + dz_1 * h1) * x. One client
holds one training sample, the batch is that sample: one round is one plain SGD step.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from fmlpipe.config.schema import OptimizerParams
from fmlpipe.fl.algorithms import ALGORITHMS
from fmlpipe.fl.algorithms.base import SimContext
from fmlpipe.fl.backend import LocalBackend
from fmlpipe.fl.data import ClientSplit, FederatedData
from fmlpipe.fl.engines import EngineChoice
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool
from fmlpipe.fl.personal_parts import Parts, split
from fmlpipe.fl.roster import Roster
from fmlpipe.models import registry
from tests.fl.fakes import federation

LR, X, Y = 0.5, 1.0, 0
W = {"body": 0.8, "h0": 0.3, "h1": -0.6}  # the received global model
V = {"body": 1.2, "h0": -0.4, "h1": 0.7}  # the client's own model (Ditto, APFL) or its head (FedPer, FedRep)


class Tiny(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.body = nn.Linear(1, 1, bias=False)
        self.head = nn.Linear(1, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.flatten(1)))


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.MODELS, "tiny", registry.ModelSpec(Tiny, "three scalars", "head."))


def state(m: dict[str, float]) -> dict[str, torch.Tensor]:
    return {"body.weight": torch.tensor([[m["body"]]]), "head.weight": torch.tensor([[m["h0"]], [m["h1"]]])}


def scalars(s: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    if "body.weight" in s:
        out["body"] = float(s["body.weight"])
    if "head.weight" in s:
        out["h0"], out["h1"] = (float(v) for v in s["head.weight"].flatten())
    return out


def logits(m: dict[str, float]) -> list[float]:
    """The model's logits at ``m`` for the input X, by hand."""
    return [m["h0"] * m["body"] * X, m["h1"] * m["body"] * X]


def grads(m: dict[str, float]) -> dict[str, float]:
    """The cross-entropy's gradient at ``m`` for the sample (X, Y), by hand."""
    z = logits(m)
    e = [math.exp(v - max(z)) for v in z]
    dz = [e[j] / sum(e) - (1.0 if j == Y else 0.0) for j in range(2)]
    return {"body": (dz[0] * m["h0"] + dz[1] * m["h1"]) * X, "h0": dz[0] * m["body"] * X, "h1": dz[1] * m["body"] * X}


def ce(m: dict[str, float]) -> float:
    """The cross-entropy at ``m`` for the sample (X, Y), by hand."""
    z = logits(m)
    return math.log(sum(math.exp(v) for v in z)) - z[Y]


def data(clients: int = 1) -> FederatedData:
    x = torch.full((2 * clients, 1, 1, 1), X)
    y = torch.full((2 * clients,), Y, dtype=torch.int64)
    splits = tuple(ClientSplit(torch.tensor([2 * c]), torch.tensor([2 * c + 1])) for c in range(clients))
    return FederatedData(x, y, x, y, splits, (1, 1, 1), 2)


def run(name: str, params: dict[str, Any], clients: int = 1) -> tuple[LocalBackend, Any]:
    sgd = OptimizerParams(name="sgd", lr=LR, momentum=0.0, weight_decay=0.0, state="persistent")
    fed = federation(optimizer=sgd, batch_size=1, local_epochs=1, grad_clip=None, precision="fp32")
    cls = ALGORITHMS[name]
    roster = Roster.from_params(_params_with(fed), clients, 2, torch.device("cpu"), shared_model=cls.uses_global,
                                private_heads=cls.private_heads)
    alg = cls(SimContext(data(clients), fed, roster, 0), cls.params_class.model_validate(params))
    pool = ModelPool({GLOBAL: "tiny", LOCAL: "tiny"}, (1, 1, 1), 2, torch.device("cpu"))
    return LocalBackend(alg, EngineChoice("sequential").build(pool), pool), alg


def _params_with(fed: Any) -> Any:
    from tests.conftest import small_params

    params = small_params()
    models = params.models.model_copy(update={"global_": "tiny", "local": "tiny"})
    return params.model_copy(update={"federation": fed, "models": models})


def personal(backend: LocalBackend, own: dict[str, float] | None = None, head: dict[str, float] | None = None,
             extra: dict[str, float] | None = None, cid: int = 0) -> None:
    """Give client ``cid`` a known personal state (optimizer state as initialized: zero)."""
    parts = split(backend.personal.get(cid))
    heads = {k: v for k, v in state(head).items() if k.startswith("head")} if head else parts.head
    extras = {k: torch.tensor(v) for k, v in (extra or {}).items()}
    backend.personal.put(cid, Parts(state(own) if own else parts.own, heads, parts.optim, extras).join())


def close(got: dict[str, float], expected: dict[str, float]) -> None:
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k] == pytest.approx(expected[k], abs=1e-6), k


def test_ditto_one_step_pulls_the_personal_model_toward_the_received_global_one() -> None:
    lam = 0.5
    backend, _ = run("ditto", {"lam": lam})
    personal(backend, own=V)
    (result,) = backend.train(1, LR, {}, [0], state(W))
    gw, gv = grads(W), grads(V)
    close(scalars(result.sent or {}), {k: W[k] - LR * gw[k] for k in W})  # w: FedAvg's step
    close(scalars(split(backend.personal.get(0)).own),
          {k: V[k] - LR * (gv[k] + lam * (V[k] - W[k])) for k in V})  # v: CE + lambda/2 ||v - w^t||^2
    # Each model is recorded by its cross-entropy before the step; v's proximal term is left out.
    assert result.losses["personal"] == pytest.approx(ce(V), abs=1e-6)
    assert result.losses["global"] == pytest.approx(ce(W), abs=1e-6)


def test_fedper_trains_body_and_own_head_together_and_sends_the_body_only() -> None:
    backend, _ = run("fedper", {})
    personal(backend, head=V)
    (result,) = backend.train(1, LR, {}, [0], state(W))
    joint = {"body": W["body"], "h0": V["h0"], "h1": V["h1"]}  # the received body with the client's head
    g = grads(joint)
    assert set(result.sent or {}) == {"body.weight"}
    close(scalars(result.sent or {}), {"body": joint["body"] - LR * g["body"]})
    close(scalars(split(backend.personal.get(0)).head), {k: joint[k] - LR * g[k] for k in ("h0", "h1")})


def test_fedrep_trains_the_head_with_the_body_frozen_then_the_body_with_the_new_head() -> None:
    backend, _ = run("fedrep", {"head_epochs": 1, "body_epochs": 1})
    personal(backend, head=V)
    (result,) = backend.train(1, LR, {}, [0], state(W))
    start = {"body": W["body"], "h0": V["h0"], "h1": V["h1"]}
    g = grads(start)
    head = {k: start[k] - LR * g[k] for k in ("h0", "h1")}  # body frozen at the received one
    g2 = grads({"body": W["body"], **head})  # then the body, at the new head
    close(scalars(split(backend.personal.get(0)).head), head)
    close(scalars(result.sent or {}), {"body": W["body"] - LR * g2["body"]})


@pytest.mark.parametrize("adaptive", [True, False])
def test_apfl_one_step_of_w_v_and_alpha_from_the_same_values(adaptive: bool) -> None:
    alpha, own = 0.25, {"body": 1.0, "h0": 0.6, "h1": -0.9}  # alpha moves, and stays inside [0, 1]
    backend, _ = run("apfl", {"alpha": alpha, "adaptive": adaptive})
    personal(backend, own=own, extra={"alpha": alpha})
    (result,) = backend.train(1, LR, {}, [0], state(W))
    mixed = {k: alpha * own[k] + (1 - alpha) * W[k] for k in own}
    gw, gm = grads(W), grads(mixed)
    close(scalars(result.sent or {}), {k: W[k] - LR * gw[k] for k in W})
    parts = split(backend.personal.get(0))
    close(scalars(parts.own), {k: own[k] - LR * alpha * gm[k] for k in own})  # the gradient of f(v_bar) in v
    inner = sum((own[k] - W[k]) * gm[k] for k in own)  # <v - w, grad f(v_bar)>
    expected = min(1.0, max(0.0, alpha - LR * inner)) if adaptive else alpha
    assert float(parts.extra["alpha"]) == pytest.approx(expected, abs=1e-6)
    assert 0.0 < expected < 1.0  # the clip is not what is tested here


def test_apfl_alpha_is_kept_within_zero_and_one() -> None:
    backend, _ = run("apfl", {"alpha": 0.9, "adaptive": True})
    own = {"body": -3.0, "h0": 2.0, "h1": -2.0}
    personal(backend, own=own, extra={"alpha": 0.9})
    backend.train(1, 50.0, {}, [0], state(W))  # a huge step sends alpha past a bound
    mixed = {k: 0.9 * own[k] + 0.1 * W[k] for k in own}
    inner = sum((own[k] - W[k]) * grads(mixed)[k] for k in own)
    unclipped = 0.9 - 50.0 * inner
    assert not 0.0 <= unclipped <= 1.0
    assert float(split(backend.personal.get(0)).extra["alpha"]) == (0.0 if unclipped < 0 else 1.0)


@pytest.mark.parametrize("name", ["fedper", "fedrep"])
def test_only_bodies_are_averaged(name: str) -> None:
    params = {"head_epochs": 1, "body_epochs": 1} if name == "fedrep" else {}
    backend, alg = run(name, params, clients=2)
    personal(backend, head=V, cid=0)
    personal(backend, head={"body": 0.0, "h0": 0.9, "h1": 0.1}, cid=1)
    results = backend.train(1, LR, {}, [0, 1], state(W))
    bodies = [float((r.sent or {})["body.weight"]) for r in results]
    merged = alg.server_update(state(W), results)
    assert set(merged) == {"body.weight"}  # no head reaches the server
    assert float(merged["body.weight"]) == pytest.approx((bodies[0] * 1 + bodies[1] * 1) / 2, abs=1e-7)
    heads = [scalars(split(backend.personal.get(c)).head) for c in (0, 1)]
    assert heads[0] != heads[1]  # each client keeps its own head


def _fedrep_rounds(monkeypatch: pytest.MonkeyPatch, model: str, cached: bool) -> tuple[list[Any], dict[int, Any]]:
    """Two rounds of FedRep over the fake federation (clients of 37, 5, 61 and 23 examples, batch
    8, momentum kept across rounds, 3 head epochs), with the head epochs on cached features or
    through the whole model."""
    from fmlpipe.fl.algorithms import fedrep
    from tests.fl.fakes import fake_data, make_run, sgd

    if not cached:
        monkeypatch.setattr(fedrep, "features_fixed", lambda module: False)
    fed = federation(optimizer=sgd(), batch_size=8, local_epochs=1, grad_clip=1.0)
    params = ALGORITHMS["fedrep"].params_class.model_validate({"head_epochs": 3, "body_epochs": 1})
    run = make_run("fedrep", model, fed, "sequential", fake_data(), params)
    state, results = run.global_state(), []
    for rnd in (1, 2):
        results = run.round([0, 1, 2, 3], state, rnd, 0.05)
        state = run.alg.server_update(state, results)
    return results, run.personal


@pytest.mark.parametrize("model", ["cnn", "lenet5", "mlp"])
def test_fedrep_head_epochs_on_cached_features_equal_the_whole_model_ones(monkeypatch: pytest.MonkeyPatch,
                                                                          model: str) -> None:
    cached, cached_personal = _fedrep_rounds(monkeypatch, model, cached=True)
    monkeypatch.undo()
    whole, whole_personal = _fedrep_rounds(monkeypatch, model, cached=False)
    for a, b in zip(cached, whole, strict=True):
        assert a.losses.keys() == b.losses.keys() == {"head", "body"}
        for name in a.losses:  # the recorded losses: the same batches, the same numbers
            assert a.losses[name] == pytest.approx(b.losses[name], rel=1e-5)
        for key in b.sent:
            torch.testing.assert_close(a.sent[key], b.sent[key], rtol=1e-5, atol=1e-6)
    for cid, state in whole_personal.items():  # heads and their momentum
        for key in state:
            torch.testing.assert_close(cached_personal[cid][key], state[key], rtol=1e-5, atol=1e-6)


def test_a_body_with_batch_statistics_or_dropout_is_not_cached() -> None:
    from fmlpipe.fl.algorithms.fedrep import features_fixed

    assert features_fixed(registry.MODELS["cnn"].builder((1, 28, 28), 10))
    assert not features_fixed(registry.MODELS["resnet8"].builder((3, 32, 32), 10))  # BatchNorm
    assert not features_fixed(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)))
