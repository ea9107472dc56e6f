"""The round loop, written once for every algorithm: sample clients, let each train, let the
server aggregate, evaluate every ``eval_every`` rounds, hand the state to a callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fmlpipe.config.schema import FULL_TASK
from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult
from fmlpipe.fl.device import release_memory
from fmlpipe.fl.engine import train_round
from fmlpipe.fl.evaluate import evaluate, grouped_accuracy
from fmlpipe.fl.local_train import ClientDiverged
from fmlpipe.fl.metrics import summarize
from fmlpipe.fl.optim import lr_at_round
from fmlpipe.fl.sampling import participants_per_round, sample_clients
from fmlpipe.errors import FmlpipeError

Row = dict[str, float | int]


@dataclass
class RunState:
    """Where a run stands after ``round`` completed rounds; what a checkpoint holds."""

    round: int
    global_state: State | None
    rounds_log: list[Row] = field(default_factory=list)  # one row per round: training stats
    history: list[Row] = field(default_factory=list)  # one row per evaluated round
    client_rows: list[Row] = field(default_factory=list)  # per client per evaluated round
    train_seconds: float = 0.0
    eval_seconds: float = 0.0


def evaluate_global(alg: Algorithm, global_state: State | None) -> tuple[Row, list[float | None]]:
    """The shared model of each task on the global test set (labelled by that task), and on
    each client's local test split (None without a shared model). ``acc_global_test`` is the
    headline task's (``Roster.headline_task``); when clients learn other tasks than ``full``,
    every task's figures are also recorded as ``acc_global_test_<task>``."""
    ctx = alg.ctx
    data, roster = ctx.data, ctx.roster
    global_acc: list[float | None] = [None] * data.num_clients
    figures: dict[str, tuple[float, float]] = {}
    for task, state in alg.global_models(global_state).items():
        module = ctx.pool.load(roster.global_key(task), state)
        figures[task] = evaluate(module, data.test_x, roster.relabel(data.test_y, task))
        members = roster.clients_of(task)
        accs = grouped_accuracy(module, data.train_x, roster.relabel(data.train_y, task),
                                [data.clients[cid].test for cid in members])
        for cid, acc in zip(members, accs):
            global_acc[cid] = acc
    row: Row = {}
    if figures:
        row["acc_global_test"], row["loss_global_test"] = figures[roster.headline_task]
    if roster.task_names != [FULL_TASK]:
        for task, (acc, loss) in figures.items():
            row[f"acc_global_test_{task}"], row[f"loss_global_test_{task}"] = acc, loss
    return row, global_acc


def evaluate_round(alg: Algorithm, global_state: State | None) -> tuple[Row, list[Row]]:
    """Every client's metrics and their summaries across clients."""
    row, global_acc = evaluate_global(alg, global_state)
    clients: list[Row] = []
    for cid, (acc, personal) in enumerate(zip(global_acc, alg.client_metrics(global_state, global_acc))):
        metrics: Row = {"client": cid}
        if acc is not None:
            metrics["acc_global_local"] = acc
        metrics.update(personal)
        clients.append(metrics)
    for key in clients[0]:
        if key != "client":
            for stat, value in summarize([float(c[key]) for c in clients]).items():
                row[f"{key}_{stat}"] = value
    return row, clients


def _mean_losses(results: list[ClientResult]) -> Row:
    names = sorted({name for r in results for name in r.losses})
    return {f"train_loss_{n}": sum(r.losses[n] for r in results) / len(results) for n in names}


def simulate(
    alg: Algorithm,
    state: RunState,
    rounds: int,
    on_round: Callable[[RunState], None],
) -> RunState:
    """Run rounds ``state.round + 1 .. rounds``, calling ``on_round`` after each."""
    ctx = alg.ctx
    fed = ctx.federation
    count = participants_per_round(fed.clients_per_round, ctx.data.num_clients)
    for rnd in range(state.round + 1, rounds + 1):
        start = time.perf_counter()
        values = alg.round_values(rnd, rounds)
        lr = lr_at_round(fed.optimizer.lr, fed.lr_schedule, rnd, rounds)
        chosen = sample_clients(ctx.data.num_clients, count, ctx.seed, rnd)
        try:
            results = train_round(alg, chosen, state.global_state, rnd, lr)
        except ClientDiverged as exc:
            raise FmlpipeError(f"{alg.name}: training diverged at round {rnd}, client {exc.cid}: {exc}; "
                               f"lower federation.optimizer.lr or set federation.grad_clip") from None
        state.global_state = alg.server_update(state.global_state, results)
        row: Row = {"round": rnd, "lr": lr, "participants": len(chosen), **values, **_mean_losses(results)}
        del results  # the clients' states: let evaluation reuse their memory
        release_memory()
        trained = time.perf_counter()
        state.train_seconds += trained - start
        state.rounds_log.append(row)
        if rnd % fed.eval_every == 0 or rnd == rounds:
            summary, clients = evaluate_round(alg, state.global_state)
            state.history.append({**row, **summary})
            state.client_rows.extend({"round": rnd, **c} for c in clients)
            release_memory()
            state.eval_seconds += time.perf_counter() - trained
        state.round = rnd
        on_round(state)
    return state
