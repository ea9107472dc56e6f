"""Where runs are recorded: one MLflow store per project, shared by every pipeline and every
queued ``dvc exp`` run (they execute in temporary copies, so the store is anchored at the
DVC root rather than the working directory)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fmlpipe.config.schema import TrackingParams

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"

# How long a stage waits for another process's lock on a local SQLite store before giving up.
# A concurrent stage's writes hold it for milliseconds, and first opens (schema migrations,
# seconds) are serialized by ``store_lock`` before this wait starts, so a lock held this long
# is a stuck or foreign process. MLflow's own waits are longer: 5 s (Python's sqlite3 default)
# to open and 20 s per statement (``PRAGMA busy_timeout = 20000`` in each of its sessions).
BUSY_TIMEOUT_S = 10.0


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
    def sqlite_path(self) -> Path | None:
        """The database file of a local SQLite store; None for a server."""
        return Path(self.uri.removeprefix("sqlite:///")) if self.is_local_sqlite else None

    @property
    def location(self) -> str:
        """How messages name the store: its file, or the server's URI."""
        return str(self.sqlite_path or self.uri)

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


def open_sqlite(path: Path) -> sqlite3.Connection:
    """fmlpipe's own connection to a store's file, beside MLflow's: never creates the file,
    waits ``BUSY_TIMEOUT_S`` for another process's lock, and commits only what it says."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S,
                           isolation_level=None)
