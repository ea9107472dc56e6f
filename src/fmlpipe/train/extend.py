"""More rounds for a finished run: when ``federation.rounds`` alone grew, the train stage goes
on from the finished run's checkpoint instead of from round 0.

That is only right where the rounds already run would have run the same way under the new
total, so that the result is the one a fresh run of the new total gives, bit for bit:

- every scheduled value of those rounds (the lr, FML's α/β) is the same under both totals: a
  cosine lr or a linear α/β schedule, which stretch with the total, start afresh;
- the old last round was evaluated as the last (an algorithm whose personalized model costs
  training, FedAvg-FT, has it measured then only): that evaluation is redone as an ordinary
  round's, or dropped where ``federation.eval_every`` would not have evaluated the round;
- a run of a single round starts afresh: its engine choice may differ (the vectorized engine
  compiles its step only for two rounds or more).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fmlpipe.config.schema import FederationParams
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.optim import lr_at_round
from fmlpipe.fl.simulation import RunState, evaluate_round, record_evaluation
from fmlpipe.metrics import ROUND
from fmlpipe.train.checkpoint import checkpoint_round, load_checkpoint


def extends(alg: Algorithm, fed: FederationParams, done: int) -> bool:
    """Whether a finished run of ``done`` rounds may go on to ``fed.rounds``: rounds 1..done
    scheduled alike under both totals."""
    if not 2 <= done < fed.rounds:
        return False
    return all(
        alg.round_values(rnd, done) == alg.round_values(rnd, fed.rounds)
        and lr_at_round(fed.optimizer.lr, fed.lr_schedule, rnd, done)
        == lr_at_round(fed.optimizer.lr, fed.lr_schedule, rnd, fed.rounds)
        for rnd in range(1, done + 1)
    )


def reopen_last_round(alg: Algorithm, backend: Backend, pool: ModelPool, state: RunState) -> None:
    """Turn the finished run's last round, evaluated as the last, into an ordinary round: its
    evaluation rows are dropped, and redone as a middle round's where ``eval_every`` falls on it.
    ``backend`` holds the checkpoint's personal states."""
    rnd = state.round
    state.history = [row for row in state.history if row[ROUND] != rnd]
    state.client_rows = [row for row in state.client_rows if row[ROUND] != rnd]
    if rnd % alg.ctx.federation.eval_every == 0:
        record_evaluation(state, state.rounds_log[-1], *evaluate_round(alg, backend, pool, rnd, state.global_state,
                                                                       last=False))


def extend_finished(
    path: Path, key_of: Callable[[int], str], alg: Algorithm, backend: Backend, pool: ModelPool
) -> RunState | None:
    """The finished run checkpointed at ``path``, ready to go on to ``federation.rounds``
    (its personal states loaded into ``backend``), when it is a run of these params with fewer
    rounds that :func:`extends` allows; otherwise None. ``key_of(rounds)``: the checkpoint
    fingerprint of these params with ``federation.rounds = rounds``."""
    done = checkpoint_round(path)
    if done is None or not extends(alg, alg.ctx.federation, done):
        return None
    resumed = load_checkpoint(path, key_of(done))
    if resumed is None:
        return None
    state, personal = resumed
    backend.load(personal)
    reopen_last_round(alg, backend, pool, state)
    return state
