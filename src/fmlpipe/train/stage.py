"""The ``train`` stage: run one algorithm's federated simulation, resuming from its checkpoint."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fmlpipe.codehash import stage_fingerprint
from fmlpipe.config import Params
from fmlpipe.config.schema import Section
from fmlpipe.data.store import PreparedDataset, load_prepared
from fmlpipe.errors import FmlpipeError, ParamsError
from fmlpipe.fl.algorithms import algorithm_class
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.data import FederatedData, federated_data
from fmlpipe.fl.device import make_deterministic, resolve_device
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, init_state
from fmlpipe.fl.seeding import GLOBAL_INIT
from fmlpipe.fl.setup import Run, build_run
from fmlpipe.fl.simulation import RunState, simulate
from fmlpipe.metrics import client_name
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from fmlpipe.tracking.clients import ClientInfo
from fmlpipe.tracking.setup import train_tracker
from fmlpipe.train.checkpoint import checkpoint_due, load_checkpoint, save_checkpoint
from fmlpipe.train.extend import extend_finished
from fmlpipe.train.outputs import run_models, write_run_outputs

MAX_RECOVERIES = 3  # restarts of the Ray workers one stage may make before giving up


def code_sha256() -> str:
    """The training code running now, as ``code/train.sha256`` names it (its combined hash):
    this module is the train stage's entry (``fmlpipe.stages``)."""
    return stage_fingerprint("train", (__name__,)).combined


def fingerprint(params: Params, algorithm: str, section: Section, dataset_sha: str, partition_hash: str,
                code_sha: str) -> str:
    """What a checkpoint must match to be resumed: the params the run reads, its data, and the
    code: after a change to the training code DVC re-runs the stage, which must not pick up
    the run the old code left."""
    payload = {
        "algorithm": algorithm,
        "settings": section.model_dump(),
        "base": params.base.model_dump(),
        "federation": params.federation.model_dump(),
        "models": params.models.model_dump(by_alias=True),
        "tasks": params.tasks.model_dump(),
        "dataset": dataset_sha,
        "partition": partition_hash,
        "code": code_sha,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )


def client_infos(params: Params, data: FederatedData, cls: type[Algorithm]) -> list[ClientInfo]:
    """What the tracker records of each client: sizes, label histogram, model and task."""
    return [
        ClientInfo(
            client_name(cid), split.num_train, int(split.test.numel()),
            tuple(torch.bincount(data.train_y[split.train], minlength=data.num_classes).tolist()),
            params.models.local_for(cid) if LOCAL in cls.roles else params.models.global_,
            params.tasks.task_for(cid),
        )
        for cid, split in enumerate(data.clients)
    ]


def open_backend(params: Params, run: Run, algorithm: str, prepared: PreparedDataset, partition: Partition,
                 env: Mapping[str, str]) -> Backend:
    """Where the clients live: this process (``execution.backend: local``), or Ray workers."""
    if params.execution.backend == "local":
        return run.backend
    from fmlpipe.cluster.backend import RayBackend  # imports Ray: not for local runs

    return RayBackend(params, algorithm, prepared, partition, env)


def restore(path: Path, key: str, backend: Backend, initial: Callable[[], RunState]) -> RunState:
    """The run as the checkpoint at ``path`` left it (its personal states loaded into
    ``backend``), or ``initial()`` when there is no checkpoint of these params and data."""
    resumed = load_checkpoint(path, key)
    if resumed is None:
        return initial()
    state, personal = resumed
    backend.load(personal)
    return state


def run_train(params: Params, paths: Paths, algorithm: str | None,
              env: Mapping[str, str] | None = None) -> RunState:
    """Train ``algorithm`` and write ``runs/<algorithm>/``; returns the final run state.
    ``env`` is the process environment (DVC_ROOT, DVC_STAGE, MLFLOW_TRACKING_URI, ...)."""
    env = env or {}
    cls, section = algorithm_class(algorithm, params)
    prepared = load_prepared(paths)
    partition = Partition.load(paths.partition_file)
    fed = params.federation
    if isinstance(fed.clients_per_round, int) and fed.clients_per_round > len(partition.train):
        raise ParamsError(f"federation.clients_per_round={fed.clients_per_round} exceeds the "
                          f"{len(partition.train)} clients of the partition (partition.num_clients)")
    device = resolve_device(params.base.device)
    make_deterministic()
    data = federated_data(prepared, partition, device, params.data.normalize)
    run = build_run(params, data, device, cls, section)
    alg = run.alg

    run_dir = paths.run_dir(cls.name)
    ckpt = run_dir / "checkpoint.safetensors"
    hashes = {"fmlpipe.dataset_sha256": prepared.card["dataset_sha256"],
              "fmlpipe.partition_hash": partition.content_hash(), "fmlpipe.code_sha256": code_sha256()}
    key_args = (cls.name, section, *hashes.values())
    key = fingerprint(params, *key_args)

    def initial() -> RunState:
        return RunState(global_state=init_state(run.pool.get(GLOBAL), params.base.seed, GLOBAL_INIT)
                        if cls.uses_global else None)

    backend = open_backend(params, run, cls.name, prepared, partition, env)
    try:
        state = restore(ckpt, key, backend, initial)
        if state.round == 0:  # nothing of these params: perhaps a finished run of them with fewer rounds
            state = _extended(params, ckpt, key_args, run, backend) or state
        if state.round == 0 and ckpt.is_file():  # a checkpoint holds round 1 or later
            Console(stderr=True).print(f"note: {cls.name}: {ckpt} is of other params, data or training code: "
                                       "starting from round 0", highlight=False, soft_wrap=True)
        tracker = train_tracker(params, paths, cls.name, key, client_infos(params, data, cls), hashes, env)
        try:
            tracker.on_round(state)  # a resumed run: log what the checkpoint holds and MLflow lacks
            with _progress() as bar:
                task = bar.add_task(f"train {cls.name}", total=fed.rounds, completed=state.round)

                saved, every = time.monotonic(), params.execution.checkpoint_seconds

                def after_round(s: RunState) -> None:
                    nonlocal saved
                    # MLflow gets a round once the checkpoint has it: a resumed run logs no round twice
                    if checkpoint_due(s.round, fed.rounds, time.monotonic() - saved, every):
                        save_checkpoint(ckpt, s, backend.states(), key)
                        tracker.on_round(s)
                        saved = time.monotonic()
                    bar.update(task, completed=s.round)

                state = _simulate_recovering(alg, backend, run.pool, state, fed.rounds, after_round,
                                             lambda: restore(ckpt, key, backend, initial))
            write_run_outputs(run_dir, alg, state, run_models(alg, backend, state.global_state))
            tracker.finish(state, run_dir)
        except BaseException:
            tracker.fail()
            raise
    finally:
        if backend is not run.backend:
            backend.close()  # type: ignore[attr-defined]  # a Ray backend: its workers and connection
    return state


def _extended(params: Params, ckpt: Path, key_args: tuple[str, Section, str, str, str], run: Run,
              backend: Backend) -> RunState | None:
    """The finished shorter run of these params at ``ckpt``, ready to go on (:mod:`fmlpipe.train.extend`)."""
    fed = params.federation

    def key_of(rounds: int) -> str:
        shorter = params.model_copy(update={"federation": fed.model_copy(update={"rounds": rounds})})
        return fingerprint(shorter, *key_args)

    state = extend_finished(ckpt, key_of, run.alg, backend, run.pool)
    if state is not None:
        Console(stderr=True).print(f"note: {run.alg.name}: going on from the finished {state.round}-round run "
                                   f"in {ckpt.parent} to {fed.rounds} rounds", highlight=False)
    return state


def _simulate_recovering(alg: Algorithm, backend: Backend, pool: ModelPool, state: RunState, rounds: int,
                         after_round: Callable[[RunState], None], from_checkpoint: Callable[[], RunState]) -> RunState:
    """:func:`simulate`; a lost Ray worker restarts every worker and redoes the round from the
    last checkpoint, as resuming a stage does (so the run ends as an undisturbed one would)."""
    from fmlpipe.cluster.backend import WorkerLost

    for attempt in range(MAX_RECOVERIES + 1):
        try:
            return simulate(alg, backend, pool, state, rounds, after_round)
        except WorkerLost as lost:
            if attempt == MAX_RECOVERIES:
                raise FmlpipeError(f"{lost}; gave up after {MAX_RECOVERIES} restarts of the workers") from None
            Console(stderr=True).print(f"note: {lost}: restarting the workers, then redoing the rounds after "
                                       "the last checkpoint", highlight=False)
            backend.restart()  # type: ignore[attr-defined]  # only the Ray backend loses workers
            state = from_checkpoint()
    raise AssertionError("unreachable")
