"""Build the tracker a ``train`` stage reports to (MLflow, or nothing when disabled)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from fmlpipe.config import Params
from fmlpipe.io import write_json
from fmlpipe.metrics import RunLog
from fmlpipe.paths import Paths
from fmlpipe.tracking.clients import ClientInfo
from fmlpipe.tracking.provenance import flatten, provenance_tags
from fmlpipe.tracking.store import resolve_store


class Tracker(Protocol):
    def on_round(self, state: RunLog) -> None: ...
    def finish(self, state: RunLog, run_dir: Path) -> None: ...
    def fail(self) -> None: ...


class NoTracking:
    def on_round(self, state: RunLog) -> None:
        pass

    def finish(self, state: RunLog, run_dir: Path) -> None:
        pass

    def fail(self) -> None:
        pass


def train_tracker(params: Params, paths: Paths, algorithm: str, fingerprint: str, clients: list[ClientInfo],
                  hashes: dict[str, str], env: Mapping[str, str]) -> Tracker:
    ref_path = paths.run_dir(algorithm) / "mlflow.json"
    if not params.tracking.enabled:
        # The stage's outputs still say where its run is: nowhere.
        write_json(ref_path, {"tracking_enabled": False})
        return NoTracking()
    from fmlpipe.tracking.train_tracker import MlflowTrainTracker

    store = resolve_store(params.tracking, paths.root, env)
    tags = provenance_tags(store.project_root, env, {"fmlpipe.params_hash": fingerprint, **hashes})
    return MlflowTrainTracker(store, algorithm, fingerprint, flatten(params), tags, clients, ref_path, paths.variant)
