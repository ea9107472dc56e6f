"""Build the tracker a ``train`` stage reports to (MLflow, or nothing when disabled)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import torch

from fmlpipe.config import Params
from fmlpipe.fl.algorithms import ALGORITHMS
from fmlpipe.fl.data import FederatedData
from fmlpipe.fl.modelpool import LOCAL
from fmlpipe.fl.outputs import client_name
from fmlpipe.fl.simulation import RunState
from fmlpipe.io import write_json
from fmlpipe.paths import Paths
from fmlpipe.tracking.provenance import flatten, provenance_tags
from fmlpipe.tracking.store import resolve_store


class Tracker(Protocol):
    def on_round(self, state: RunState) -> None: ...
    def finish(self, state: RunState, run_dir: Path) -> None: ...
    def fail(self) -> None: ...


class NoTracking:
    def on_round(self, state: RunState) -> None:
        pass

    def finish(self, state: RunState, run_dir: Path) -> None:
        pass

    def fail(self) -> None:
        pass


def train_tracker(params: Params, paths: Paths, algorithm: str, fingerprint: str, data: FederatedData,
                  hashes: dict[str, str], env: Mapping[str, str]) -> Tracker:
    ref_path = paths.run_dir(algorithm) / "mlflow.json"
    if not params.tracking.enabled:
        # The stage's outputs still say where its run is: nowhere.
        write_json(ref_path, {"tracking_enabled": False})
        return NoTracking()
    from fmlpipe.tracking.train_tracker import ClientInfo, MlflowTrainTracker

    store = resolve_store(params.tracking, paths.root, env)
    clients = [
        ClientInfo(
            client_name(cid), split.num_train, int(split.test.numel()),
            tuple(torch.bincount(data.train_y[split.train], minlength=data.num_classes).tolist()),
            params.models.local_for(cid) if LOCAL in ALGORITHMS[algorithm].roles else params.models.global_,
            params.tasks.task_for(cid),
        )
        for cid, split in enumerate(data.clients)
    ]
    tags = provenance_tags(store.project_root, env, {"fmlpipe.params_hash": fingerprint, **hashes})
    return MlflowTrainTracker(store, algorithm, fingerprint, flatten(params), tags, clients, ref_path, paths.variant)
