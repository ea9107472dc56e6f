"""A tracking store's faults, found once before a stage's work and reported as one line.

A corrupt, locked or schema-mismatched store would otherwise end a stage with SQLAlchemy's or
MLflow's traceback, and only after training had started. ``opened`` checks the store before any
work; ``store_faults`` is the one place that turns the errors of SQLite, SQLAlchemy and MLflow
into an ``FmlpipeError`` naming the store and the fix. Other errors pass through unchanged.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from fmlpipe.errors import FmlpipeError
from fmlpipe.tracking.relocate import relocate_artifacts
from fmlpipe.tracking.store import TrackingStore, open_sqlite, store_lock

ELSEWHERE = "or set tracking.uri / MLFLOW_TRACKING_URI to another store"
# MLflow's message when the schema revision differs from its own head (for older and newer alike).
_SCHEMA = re.compile(r"found version (\S+), but expected (\S+)\)")


def check_reachable(uri: str, timeout: float = 10.0) -> None:
    """Fail fast on an unreachable tracking server: MLflow's own client retries for minutes."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FmlpipeError(
            f"tracking server {uri} is unreachable ({reason}): start it, fix tracking.uri or "
            f"MLFLOW_TRACKING_URI, or set tracking.enabled: false"
        ) from None


def check_sqlite(store: TrackingStore) -> None:
    """An existing local SQLite store must be a sound SQLite database holding MLflow's tables,
    writable within ``store.BUSY_TIMEOUT_S``. Nothing is written. MLflow checks the schema revision
    itself when it opens the store."""
    path = store.sqlite_path
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return  # a server, or a new store that MLflow creates
    con = open_sqlite(path)
    try:
        # The write lock MLflow's first write will need, taken and given back at once.
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        # Reads every page once (about 1 s for 200 MB): a truncated or damaged file fails here,
        # not at whichever later query first touches the damage. Its report is ["ok"], or
        # multi-line rows under a "*** in database main ***" heading.
        problems = [line for row in con.execute("PRAGMA quick_check") for line in row[0].splitlines()
                    if not line.startswith("***")]
        names = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        con.close()
    if problems != ["ok"]:
        raise FmlpipeError(_corrupt(store, problems[0]))
    tables = sorted(n for n in names if not n.startswith(("alembic_", "sqlite_")))
    # MLflow would add its tables to another program's database, so the stage stops instead.
    if tables and "experiments" not in tables:
        raise FmlpipeError(f"tracking store {path} is an SQLite database but not an MLflow store (its tables: "
                           f"{', '.join(tables[:5])}): move it aside to start a new store, {ELSEWHERE}")


def _corrupt(store: TrackingStore, reason: object) -> str:
    return (f"tracking store {store.location} is corrupt ({reason}): restore it from a backup or move it "
            f"aside to start a new store, {ELSEWHERE}")


def _known_revision(revision: str) -> bool:
    """Whether this MLflow's migrations include ``revision`` (then the store is older)."""
    import mlflow.store
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(str(Path(mlflow.store.__file__).parent / "db_migrations"))
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    """The SQLite error under ``exc``: SQLAlchemy raises its own from it, MLflow wraps that."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, sqlite3.Error):
        cause = cause.__cause__
    return cause


def describe(exc: BaseException, store: TrackingStore) -> str | None:
    """The one-line message for a store fault, or None when ``exc`` is not one."""
    where = f"tracking store {store.location}"
    schema = _SCHEMA.search(exc.message) if isinstance(exc, MlflowException) else None
    if schema:
        found, expected = schema.groups()
        if _known_revision(found):
            return (f"{where} has an older MLflow schema (revision {found}; MLflow {mlflow.__version__} needs "
                    f"{expected}): back it up, then run `mlflow db upgrade {store.uri}`")
        return (f"{where} was written by a newer MLflow (schema revision {found} is unknown to MLflow "
                f"{mlflow.__version__}): run the stage with that MLflow version, {ELSEWHERE}")
    error = _sqlite_error(exc)
    code = error.sqlite_errorcode & 0xFF if error is not None else None  # the primary result code
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return f"{where} is locked by another process: let that process finish or stop it, then run the stage again"
    if code == sqlite3.SQLITE_NOTADB:
        return f"{where} is not an SQLite database ({error}): move it aside to start a new store, {ELSEWHERE}"
    if code == sqlite3.SQLITE_CORRUPT:
        return _corrupt(store, error)
    return None


@contextmanager
def store_faults(store: TrackingStore) -> Iterator[None]:
    """Raise a store fault in the block as a one-line ``FmlpipeError`` (the original chained, for
    ``--debug``); re-raise anything else as it is."""
    try:
        yield
    except Exception as exc:
        message = None if isinstance(exc, FmlpipeError) else describe(exc, store)
        if message is None:
            raise
        raise FmlpipeError(message) from exc


@contextmanager
def opened(store: TrackingStore) -> Iterator[MlflowClient]:
    """A client on ``store``, checked before any work: a server must answer, a local SQLite
    store must be sound. The block runs under the first-open lock and ``store_faults``, so
    MLflow's own checks when it opens the store (the schema revision) are translated too."""
    check_reachable(store.uri)
    with store_lock(store), store_faults(store):
        check_sqlite(store)
        client = MlflowClient(store.uri)  # opens the store: MLflow checks its schema revision
        relocate_artifacts(store)
        yield client
