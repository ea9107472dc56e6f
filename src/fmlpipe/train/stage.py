"""The ``train`` stage: run one algorithm's federated simulation, resuming from its checkpoint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fmlpipe.config import Params
from fmlpipe.config.schema import Section
from fmlpipe.data.store import load_prepared
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import algorithm_class
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.data import FederatedData, federated_data
from fmlpipe.fl.device import make_deterministic, resolve_device
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, init_state
from fmlpipe.fl.seeding import GLOBAL_INIT
from fmlpipe.fl.simulation import RunState, simulate
from fmlpipe.metrics import client_name
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from fmlpipe.tracking.clients import ClientInfo
from fmlpipe.tracking.setup import train_tracker
from fmlpipe.train.checkpoint import load_checkpoint, save_checkpoint
from fmlpipe.train.context import build_run
from fmlpipe.train.outputs import run_models, write_run_outputs


def fingerprint(params: Params, algorithm: str, section: Section, dataset_sha: str, partition_hash: str) -> str:
    """What a checkpoint must match to be resumed: the params the run reads, and its data."""
    payload = {
        "algorithm": algorithm,
        "settings": section.model_dump(),
        "base": params.base.model_dump(),
        "federation": params.federation.model_dump(),
        "models": params.models.model_dump(by_alias=True),
        "tasks": params.tasks.model_dump(),
        "dataset": dataset_sha,
        "partition": partition_hash,
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


def run_train(params: Params, paths: Paths, algorithm: str | None,
              env: Mapping[str, str] | None = None) -> RunState:
    """Train ``algorithm`` and write ``runs/<algorithm>/``; returns the final run state.
    ``env`` is the process environment (DVC_ROOT, DVC_STAGE, MLFLOW_TRACKING_URI, ...)."""
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
    alg, backend = run.alg, run.backend

    run_dir = paths.run_dir(cls.name)
    ckpt = run_dir / "checkpoint.safetensors"
    hashes = {"fmlpipe.dataset_sha256": prepared.card["dataset_sha256"],
              "fmlpipe.partition_hash": partition.content_hash()}
    key = fingerprint(params, cls.name, section, *hashes.values())
    resumed = load_checkpoint(ckpt, key)
    if resumed is not None:
        state, personal = resumed
        backend.load(personal)
    else:
        initial = init_state(run.pool.get(GLOBAL), params.base.seed, GLOBAL_INIT) if cls.uses_global else None
        state = RunState(global_state=initial)

    tracker = train_tracker(params, paths, cls.name, key, client_infos(params, data, cls), hashes, env or {})
    try:
        tracker.on_round(state)  # a resumed run: log what the checkpoint holds and MLflow lacks
        with _progress() as bar:
            task = bar.add_task(f"train {cls.name}", total=fed.rounds, completed=state.round)

            def after_round(s: RunState) -> None:
                save_checkpoint(ckpt, s, backend.states(), key)
                tracker.on_round(s)
                bar.update(task, completed=s.round)

            state = simulate(alg, backend, run.pool, state, fed.rounds, after_round)

        write_run_outputs(run_dir, alg, state, run_models(alg, backend, state.global_state), params.convergence)
        tracker.finish(state, run_dir)
    except BaseException:
        tracker.fail()
        raise
    return state
