"""Where runs are recorded: one MLflow store per project, shared by every pipeline and every
queued ``dvc exp`` run (they execute in temporary copies, so the store is anchored at the
DVC root rather than the working directory)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fmlpipe.config.schema import TrackingParams

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


def project_store_uri(root: Path) -> str:
    """The URI of the project's own store, ``mlflow.db`` at its root."""
    return f"sqlite:///{root / STORE_FILE}"


@dataclass(frozen=True)
class TrackingStore:
    uri: str  # MLflow tracking URI
    artifact_root: str  # where new experiments put artifacts (fixed at experiment creation)
    experiment: str
    project_root: Path

    @property
    def is_local_sqlite(self) -> bool:
        return self.uri.startswith("sqlite:///")

    @property
    def ref_uri(self) -> str | None:
        """What a run reference records for this store: None for the project's own store, so a
        committed ``mlflow.json`` holds no absolute path and follows the project when it is moved
        or cloned; any other store (a server, a chosen SQLite file) by its URI."""
        return None if self.uri == project_store_uri(self.project_root) else self.uri

    def owns(self, ref_uri: str | None) -> bool:
        """Whether a run reference's ``tracking_uri`` means this store. An absolute URI of another
        project's ``mlflow.db`` (an old reference, from before the project moved) does not."""
        return (project_store_uri(self.project_root) if ref_uri is None else ref_uri) == self.uri


def project_root(start: Path, env: Mapping[str, str]) -> Path:
    """``DVC_ROOT`` when DVC runs the stage; else the nearest folder up holding ``.dvc``;
    else ``start`` itself."""
    if env.get("DVC_ROOT"):
        return Path(env["DVC_ROOT"]).resolve()
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return start


def resolve_store(tracking: TrackingParams, start: Path, env: Mapping[str, str] | None = None) -> TrackingStore:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``tracking.uri``, else SQLite
    ``mlflow.db`` at the project root, with artifacts under ``mlartifacts/`` beside it."""
    env = os.environ if env is None else env
    root = project_root(start, env)
    uri = env.get("MLFLOW_TRACKING_URI") or tracking.uri or project_store_uri(root)
    return TrackingStore(uri, (root / ARTIFACTS_DIR).as_uri(), tracking.experiment, root)


@contextmanager
def store_lock(store: TrackingStore) -> Iterator[None]:
    """Serialize first opens of a local SQLite store: MLflow migrates the schema on first open
    and concurrent first opens race."""
    if not store.is_local_sqlite:
        yield
        return
    lock_path = store.project_root / ".mlflow.lock"
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
