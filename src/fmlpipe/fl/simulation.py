"""The round loop, written once for every algorithm and backend: sample clients, let them train,
aggregate in client order, evaluate every ``eval_every`` rounds, hand the state to a callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fmlpipe.config.schema import FULL_TASK
from fmlpipe.errors import FmlpipeError
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.device import release_memory
from fmlpipe.fl.evaluate import evaluate, grouped_accuracy
from fmlpipe.fl.heads import mean_heads
from fmlpipe.fl.local_train import ClientDiverged
from fmlpipe.fl.modelpool import ModelPool
from fmlpipe.fl.optim import lr_at_round
from fmlpipe.fl.protocol import ClientResult, State
from fmlpipe.fl.sampling import participants_per_round, sample_clients
from fmlpipe.metrics import (
    ACC_GLOBAL_LOCAL,
    ACC_GLOBAL_TEST,
    ACC_PERSONALIZED,
    CLIENT,
    LOSS_GLOBAL_TEST,
    LR,
    PARTICIPANTS,
    ROUND,
    Row,
    RunLog,
    stat_name,
    summarize,
    task_name,
    train_loss_name,
)


@dataclass
class RunState(RunLog):
    """Where a run stands after ``round`` completed rounds: its log and the global state."""

    global_state: State | None = None


def global_models(alg: Algorithm, backend: Backend, global_state: State | None) -> dict[str, State]:
    """The shared model of each task the clients learn (none without one): the global state;
    where heads are private, the shared body with the mean of that task's clients' heads."""
    if not alg.uses_global or global_state is None:
        return {}
    roster = alg.ctx.roster
    if not roster.private_heads:
        return {task: global_state for task in roster.task_names}
    return {task: {**global_state, **head} for task, head in mean_heads(backend.heads(), roster).items()}


def evaluate_global(alg: Algorithm, backend: Backend, pool: ModelPool,
                    global_state: State | None) -> tuple[Row, list[float | None]]:
    """The shared model of each task on the global test set (labelled by that task), and on
    each client's local test split (None without a shared model). ``acc_global_test`` is the
    headline task's (``Roster.headline_task``); when clients learn other tasks than ``full``,
    every task's figures are also recorded per task."""
    data, roster = alg.ctx.data, alg.ctx.roster
    global_acc: list[float | None] = [None] * data.num_clients
    figures: dict[str, tuple[float, float]] = {}
    for task, state in global_models(alg, backend, global_state).items():
        module = pool.load(roster.global_key(task), state)
        precision = alg.ctx.federation.precision
        figures[task] = evaluate(module, data.test_x, roster.relabel(data.test_y, task), precision)
        members = roster.clients_of(task)
        accs = grouped_accuracy(module, data.train_x, roster.relabel(data.train_y, task),
                                [data.clients[cid].test for cid in members], precision)
        for cid, acc in zip(members, accs):
            global_acc[cid] = acc
    row: Row = {}
    if figures:
        row[ACC_GLOBAL_TEST], row[LOSS_GLOBAL_TEST] = figures[roster.headline_task]
    if roster.task_names != [FULL_TASK]:
        for task, (acc, loss) in figures.items():
            row[task_name(ACC_GLOBAL_TEST, task)], row[task_name(LOSS_GLOBAL_TEST, task)] = acc, loss
    return row, global_acc


def evaluate_round(alg: Algorithm, backend: Backend, pool: ModelPool, rnd: int, global_state: State | None,
                   last: bool = True) -> tuple[Row, list[Row]]:
    """Every client's metrics and their summaries across clients; an algorithm whose
    personalized model costs training has it measured at the ``last`` round only."""
    row, global_acc = evaluate_global(alg, backend, pool, global_state)
    if alg.personalized_is_global:
        personal: list[float | None] = list(global_acc)
    elif last or alg.personalize_every_round:
        personal = list(backend.evaluate(rnd, global_state))
    else:
        personal = [None] * len(global_acc)
    clients: list[Row] = []
    for cid, (acc, own) in enumerate(zip(global_acc, personal)):
        metrics: Row = {CLIENT: cid}
        if acc is not None:
            metrics[ACC_GLOBAL_LOCAL] = acc
        if own is not None:
            metrics[ACC_PERSONALIZED] = own
        clients.append(metrics)
    for key in clients[0]:
        if key != CLIENT:
            for stat, value in summarize([float(c[key]) for c in clients]).items():
                row[stat_name(key, stat)] = value
    return row, clients


def record_evaluation(state: RunLog, row: Row, summary: Row, clients: list[Row]) -> None:
    """Log an evaluated round: its training row with the summaries, and each client's row."""
    state.history.append({**row, **summary})
    state.client_rows.extend({ROUND: row[ROUND], **c} for c in clients)


def _mean_losses(results: list[ClientResult]) -> Row:
    names = sorted({name for r in results for name in r.losses})
    return {train_loss_name(n): sum(r.losses[n] for r in results) / len(results) for n in names}


def simulate(
    alg: Algorithm,
    backend: Backend,
    pool: ModelPool,
    state: RunState,
    rounds: int,
    on_round: Callable[[RunState], None],
) -> RunState:
    """Run rounds ``state.round + 1 .. rounds``, calling ``on_round`` after each. ``pool``
    holds the server's own modules (evaluating the global model)."""
    ctx = alg.ctx
    fed = ctx.federation
    count = participants_per_round(fed.clients_per_round, ctx.data.num_clients)
    for rnd in range(state.round + 1, rounds + 1):
        start = time.perf_counter()
        values = alg.round_values(rnd, rounds)
        lr = lr_at_round(fed.optimizer.lr, fed.lr_schedule, rnd, rounds)
        chosen = sample_clients(ctx.data.num_clients, count, ctx.seed, rnd)
        try:
            results = backend.train(rnd, lr, values, chosen, state.global_state)
        except ClientDiverged as exc:
            raise FmlpipeError(f"{alg.name}: training diverged at round {rnd}, client {exc.cid}: {exc}; "
                               f"lower federation.optimizer.lr or set federation.grad_clip") from None
        state.global_state = alg.server_update(state.global_state, results)
        row: Row = {ROUND: rnd, LR: lr, PARTICIPANTS: len(chosen), **values, **_mean_losses(results)}
        del results  # the clients' states: let evaluation reuse their memory
        release_memory()
        trained = time.perf_counter()
        state.train_seconds += trained - start
        state.rounds_log.append(row)
        if rnd % fed.eval_every == 0 or rnd == rounds:
            record_evaluation(state, row, *evaluate_round(alg, backend, pool, rnd, state.global_state,
                                                          last=rnd == rounds))
            release_memory()
            state.eval_seconds += time.perf_counter() - trained
        state.round = rnd
        on_round(state)
    return state
