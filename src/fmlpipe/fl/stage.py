"""The ``train`` stage: run one algorithm's federated simulation, resuming from its checkpoint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fmlpipe.config import Params
from fmlpipe.data.store import load_prepared
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import algorithm_class
from fmlpipe.fl.checkpoint import load_checkpoint, save_checkpoint
from fmlpipe.fl.data import federated_data
from fmlpipe.fl.device import make_deterministic, resolve_device
from fmlpipe.fl.context import build_context
from fmlpipe.fl.modelpool import GLOBAL, init_state
from fmlpipe.fl.outputs import run_models, write_run_outputs
from fmlpipe.fl.seeding import GLOBAL_INIT
from fmlpipe.fl.simulation import RunState, simulate
from fmlpipe.partition.result import Partition
from fmlpipe.tracking.setup import train_tracker
from fmlpipe.paths import Paths


def fingerprint(params: Params, algorithm: str, dataset_sha: str, partition_hash: str) -> str:
    """What a checkpoint must match to be resumed: the params the run reads, and its data."""
    section = getattr(params.algorithms, algorithm)
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


def run_train(params: Params, paths: Paths, algorithm: str | None,
              env: Mapping[str, str] | None = None) -> RunState:
    """Train ``algorithm`` and write ``runs/<algorithm>/``; returns the final run state.
    ``env`` is the process environment (DVC_ROOT, DVC_STAGE, MLFLOW_TRACKING_URI, ...)."""
    cls = algorithm_class(algorithm, dict(params.algorithms))
    assert algorithm is not None
    prepared = load_prepared(paths)
    partition = Partition.load(paths.partition_file)
    fed = params.federation
    if isinstance(fed.clients_per_round, int) and fed.clients_per_round > len(partition.train):
        raise ParamsError(f"federation.clients_per_round={fed.clients_per_round} exceeds the "
                          f"{len(partition.train)} clients of the partition (partition.num_clients)")
    device = resolve_device(params.base.device)
    make_deterministic()
    data = federated_data(prepared, partition, device)
    ctx = build_context(params, data, device, cls)
    pool, seed = ctx.pool, ctx.seed
    alg = cls(ctx, getattr(params.algorithms, algorithm))

    run_dir = paths.run_dir(algorithm)
    ckpt = run_dir / "checkpoint.safetensors"
    hashes = {"fmlpipe.dataset_sha256": prepared.card["dataset_sha256"],
              "fmlpipe.partition_hash": partition.content_hash()}
    key = fingerprint(params, algorithm, *hashes.values())
    resumed = load_checkpoint(ckpt, key)
    if resumed is not None:
        state, personal = resumed
        ctx.personal.load(personal.items())
    else:
        state = RunState(0, init_state(pool.get(GLOBAL), seed, GLOBAL_INIT) if cls.uses_global else None)

    tracker = train_tracker(params, paths, algorithm, key, data, hashes, env or {})
    try:
        tracker.on_round(state)  # a resumed run: log what the checkpoint holds and MLflow lacks
        with _progress() as bar:
            task = bar.add_task(f"train {algorithm}", total=fed.rounds, completed=state.round)

            def after_round(s: RunState) -> None:
                save_checkpoint(ckpt, s, ctx.personal.states, key)
                tracker.on_round(s)
                bar.update(task, completed=s.round)

            state = simulate(alg, state, fed.rounds, after_round)

        write_run_outputs(run_dir, algorithm, state, run_models(alg, state.global_state))
        tracker.finish(state, run_dir)
    except BaseException:
        tracker.fail()
        raise
    return state
