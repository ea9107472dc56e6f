"""The vectorized engine against the sequential reference: same client states (within 1e-5),
same recorded losses, for every algorithm, on unequal clients with clipping and momentum."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn import functional as F

from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import ALGORITHMS
from fmlpipe.fl.engines import choose_engine
from fmlpipe.fl.engines.batch_plan import plan_round
from fmlpipe.fl.engines.vectorized import step_function, train_chunk
from fmlpipe.fl.local_train import LocalSettings
from fmlpipe.fl.modelpool import GLOBAL, init_state
from fmlpipe.fl.protocol import ClientResult
from fmlpipe.fl.seeding import GLOBAL_INIT, SHUFFLE
from fmlpipe.models.registry import build_model
from tests.fl.fakes import SIZES, adam, fake_data, federation, make_run, section, sgd

CLIP = 0.2  # max gradient norm: well under the norms of these batches, so clipping acts

SECTIONS: dict[str, Any] = {
    "fedavg": None,
    "fedprox": section("fedprox").model_copy(update={"mu": 0.5}),
    "fml": section("fml").model_copy(update={"alpha": 0.3, "beta": 0.8}),
    "local": None,
    "ditto": ALGORITHMS["ditto"].params_class.model_validate({"lam": 0.5}),
    "fedper": None,
    "fedrep": ALGORITHMS["fedrep"].params_class.model_validate({"head_epochs": 2, "body_epochs": 1}),
    "apfl": ALGORITHMS["apfl"].params_class.model_validate({"alpha": 0.5, "adaptive": True}),
}
VECTORIZED = ["fedavg", "fedprox", "fml", "local", "ditto", "fedper"]  # the others run their own client round


def _round(engine: str, algorithm: str, model: str, dtype: torch.dtype, compile: str = "off",
           cids: tuple[int, ...] = tuple(range(len(SIZES))),
           **fed: Any) -> tuple[list[ClientResult], dict[int, dict[str, torch.Tensor]]]:
    run = make_run(algorithm, model, federation(engine=engine, **fed), engine, fake_data(dtype), SECTIONS[algorithm],
                   compile)
    global_state = run.global_state()
    results = run.round(list(cids), global_state, rnd=3, lr=fed["optimizer"].lr)
    return results, run.personal


def _assert_same(a: tuple[list[ClientResult], dict[int, Any]], b: tuple[list[ClientResult], dict[int, Any]],
                 atol: float) -> None:
    (results_a, personal_a), (results_b, personal_b) = a, b
    for ra, rb in zip(results_a, results_b, strict=True):
        assert ra.num_samples == rb.num_samples
        assert ra.losses.keys() == rb.losses.keys()
        for name in ra.losses:
            assert ra.losses[name] == pytest.approx(rb.losses[name], abs=atol)
        assert (ra.sent is None) == (rb.sent is None)
        for key in ra.sent or {}:
            torch.testing.assert_close(ra.sent[key], rb.sent[key], rtol=0, atol=atol)
    assert personal_a.keys() == personal_b.keys()
    for cid in personal_a:
        for key in personal_a[cid]:
            torch.testing.assert_close(personal_a[cid][key], personal_b[cid][key], rtol=0, atol=atol)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("algorithm", VECTORIZED)
def test_sgd_with_momentum_decay_and_clipping_matches_sequential(algorithm: str, model: str) -> None:
    # The cnn in float64: the sequential engine convolves channels-last (``fast_layout``), whose
    # float32 rounding differs from vmap's convolutions by ~1e-7 per step, ~1e-4 after a round
    # with momentum; float64 shows the engines compute the same thing. The mlp in float32.
    kw = {"optimizer": sgd(), "grad_clip": CLIP}
    dtype, atol = (torch.float64, 1e-10) if model == "cnn" else (torch.float32, 1e-5)
    with _default_dtype(dtype):
        _assert_same(_round("sequential", algorithm, model, dtype, **kw),
                     _round("vectorized", algorithm, model, dtype, **kw), atol=atol)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("algorithm", VECTORIZED)
def test_adam_with_clipping_matches_sequential(algorithm: str, model: str) -> None:
    # In float64: Adam divides by sqrt(v), so on a coordinate whose gradient is a near-cancelling
    # sum, float32 rounding (~1e-7) of the batch sums becomes a step of order lr; that is a
    # property of Adam in float32, not of either engine. float64 shows the engines agree.
    kw = {"optimizer": adam(state="per_round"), "grad_clip": CLIP}  # persistent Adam is not vectorized
    with _default_dtype(torch.float64):
        _assert_same(_round("sequential", algorithm, model, torch.float64, **kw),
                     _round("vectorized", algorithm, model, torch.float64, **kw), atol=1e-10)


@pytest.mark.parametrize("compile", ["on", "graphs"])
def test_compiled_step_matches_sequential(compile: str) -> None:
    """The torch.compile'd step (CPU, long runs) in float32, power-of-two client groups and all.
    Three of the clients: 3 active are split into groups of 2 and 1 and joined again, then 2 and
    1 run alone; each group size is a graph to compile, and a fourth client would only add a
    size-4 graph. ``graphs`` (torch.compile's reduce-overhead mode, a new step marked before each)
    replays CUDA graphs on CUDA only; on CPU this holds its mode and step marks to the same numbers."""
    kw = {"optimizer": sgd(), "grad_clip": CLIP, "cids": (0, 2, 3)}
    sequential = _round("sequential", "fml", "mlp", torch.float32, **kw)
    _assert_same(sequential, _round("vectorized", "fml", "mlp", torch.float32, compile, **kw), atol=1e-5)


def test_clipping_is_active_in_these_runs() -> None:
    run = make_run("fedavg", "mlp", federation(optimizer=sgd(), grad_clip=CLIP), "sequential", fake_data())
    module = run.pool.load(GLOBAL, init_state(run.pool.get(GLOBAL), 0, GLOBAL_INIT))
    x, y = run.alg.client_xy(0)
    F.cross_entropy(module(x[:8]), y[:8]).backward()
    assert torch.sqrt(sum((p.grad**2).sum() for p in module.parameters())) > 2 * CLIP


def test_a_client_out_of_data_is_not_touched_by_the_padded_steps() -> None:
    """Client 1 has one batch per epoch: after its two steps it must stay bit-identical while
    the others train on (no momentum, weight decay or padding update leaks into it)."""
    fed = federation(optimizer=sgd(), grad_clip=CLIP)
    settings = LocalSettings.from_params(fed)
    states = []
    for stop in (None, 2):
        run = make_run("fml", "mlp", fed, "vectorized", fake_data(), SECTIONS["fml"])
        alg = run.alg
        plan = plan_round(alg.ctx.data, range(len(SIZES)), settings, 0, SHUFFLE, 1)
        assert plan.steps[-1] == 2 and plan.cids[-1] == 1 and plan.num_steps > 2
        if stop is not None:
            plan = type(plan)(plan.cids, [min(s, stop) for s in plan.steps], plan.rows[:stop], plan.weight[:stop])
        global_state = run.global_state()
        k = len(plan.cids)
        personal = [alg.initial_personal(cid, run.pool) for cid in plan.cids]
        stacks = [{n: torch.stack([p[n] for p in personal]) for n in personal[0] if "/" not in n},
                  {n: t.unsqueeze(0).repeat(k, *[1] * t.dim()) for n, t in global_state.items()}]
        step = step_function(alg.objective, [run.pool.get(slot.role) for slot in alg.slots])
        train_chunk(step, stacks, plan, alg.ctx.data.train_x, alg.ctx.data.train_y, settings, fed.optimizer.lr,
                    global_state, alg.round_values(1, 1))
        states.append([{n: t[-1] for n, t in stack.items()} for stack in stacks])
    for full, stopped in zip(*states):
        for name in full:
            assert torch.equal(full[name], stopped[name])


class _default_dtype:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype

    def __enter__(self) -> None:
        self.saved = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self.saved)


@pytest.mark.parametrize("algorithm", ["fedrep", "apfl"])
def test_algorithms_with_their_own_client_round_are_refused_in_one_line(algorithm: str) -> None:
    alg = make_run(algorithm, "mlp", federation(), "sequential", fake_data(), SECTIONS[algorithm]).alg
    models = {"models.global": ("mlp", build_model("mlp", (1, 16, 16), 3))}
    with pytest.raises(ParamsError, match=f"^federation.engine='vectorized' cannot run algorithms.{algorithm}: it runs "
                                          "its own client round, one client at a time"):
        choose_engine("vectorized", alg, models, torch.device("cpu"), 1.0)
    assert choose_engine("auto", alg, models, torch.device("cuda"), 1.0).name == "sequential"
