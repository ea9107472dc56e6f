"""A corrupt, locked or schema-mismatched store: the real CLI's train and evaluate stages end
with one line naming the store and the fix, exit code 1, and leave every file as it was (the
store included: MLflow would add its tables to another program's database)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import mlflow
import pytest
from alembic.script import ScriptDirectory

from fmlpipe.errors import FmlpipeError
from fmlpipe.tracking.faults import opened
from fmlpipe.tracking.store import BUSY_TIMEOUT_S, resolve_store
from tests.conftest import small_params
from tests.tracking.kit import copy_project, error_line, fmlpipe, hashes

MIGRATIONS = ScriptDirectory(str(Path(mlflow.__file__).parent / "store" / "db_migrations"))
HEAD = MIGRATIONS.get_current_head()
PREVIOUS = MIGRATIONS.get_revision(HEAD).down_revision
ELSEWHERE = "or set tracking.uri / MLFLOW_TRACKING_URI to another store"


def _garbage(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 64)


def _unrelated(db: Path) -> None:
    db.unlink()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.close()


def _truncated(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def _damaged(db: Path) -> None:
    """One page overwritten: the root page of the metrics table. MLflow still opens the store
    (it would read no metric history back); only reading every page finds the damage."""
    with sqlite3.connect(db) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        root_page = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'metrics'").fetchone()[0]
    con.close()
    with open(db, "r+b") as fh:
        fh.seek((root_page - 1) * page_size)
        fh.write(b"\x5a" * page_size)


def _revision(revision: str) -> Callable[[Path], None]:
    def write(db: Path) -> None:
        with sqlite3.connect(db) as con:
            con.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        con.close()

    return write


@contextmanager
def _locked(db: Path) -> Iterator[None]:
    """Another process's exclusive lock (this test's), held while the stage runs."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        con.execute("ROLLBACK")
        con.close()


# fault -> (what breaks the store, what holds it broken during the stage, the line's key parts)
FAULTS: dict[str, tuple[Callable[[Path], None] | None, Callable[[Path], AbstractContextManager[None]], str]] = {
    "garbage": (_garbage, nullcontext, "is not an SQLite database (file is not a database): move it aside "
                                       f"to start a new store, {ELSEWHERE}"),
    "unrelated": (_unrelated, nullcontext, "is an SQLite database but not an MLflow store (its tables: invoices): "
                                           f"move it aside to start a new store, {ELSEWHERE}"),
    "truncated": (_truncated, nullcontext, "is corrupt (database disk image is malformed): restore it from a "
                                           f"backup or move it aside to start a new store, {ELSEWHERE}"),
    "damaged": (_damaged, nullcontext, "is corrupt (database disk image is malformed): restore it from a "
                                       f"backup or move it aside to start a new store, {ELSEWHERE}"),
    "locked": (None, _locked, "is locked by another process: let that process finish or stop it, then run "
                              "the stage again"),
    "newer": (_revision("ffffffffffff"), nullcontext,
              f"was written by a newer MLflow (schema revision ffffffffffff is unknown to MLflow "
              f"{mlflow.__version__}): run the stage with that MLflow version, {ELSEWHERE}"),
    "older": (_revision(PREVIOUS), nullcontext,
              f"has an older MLflow schema (revision {PREVIOUS}; MLflow {mlflow.__version__} needs {HEAD}): "
              f"back it up, then run `mlflow db upgrade sqlite:///{{db}}`"),
}


def _fails(root: Path, fault: str, *args: str) -> str:
    """Break the store, run the stage, check it failed with one line and changed no file."""
    db = root / "mlflow.db"
    breaks, holds, expected = FAULTS[fault]
    if breaks is not None:
        breaks(db)
    before = hashes(root)
    with holds(db):
        done = fmlpipe(root, *args)
    after = hashes(root)
    line = error_line(done)
    assert line == f"error: tracking store {db} {expected.format(db=db)}"
    assert after == before
    return line


@pytest.mark.parametrize("fault", FAULTS)
def test_train_resuming_against_a_faulty_store_stops_with_one_line(fault: str, trained_fml: Path,
                                                                  tmp_path: Path) -> None:
    root = copy_project(trained_fml, tmp_path / "project")
    assert (root / "runs" / "fml" / "checkpoint.safetensors").is_file()  # its outputs are in the hashes
    _fails(root, fault, "run-stage", "train", "--algorithm", "fml")


@pytest.mark.parametrize("fault", FAULTS)
def test_evaluate_against_a_faulty_store_stops_before_writing_reports(fault: str, trained_fml: Path,
                                                                      tmp_path: Path) -> None:
    root = copy_project(trained_fml, tmp_path / "project")
    _fails(root, fault, "run-stage", "evaluate")
    assert not (root / "reports").exists()


@pytest.mark.parametrize("fault", ["garbage", "locked"])
def test_a_fresh_train_stage_fails_before_training_starts(fault: str, trained_fml: Path, tmp_path: Path) -> None:
    root = copy_project(trained_fml, tmp_path / "project", "runs")
    _fails(root, fault, "run-stage", "train", "--algorithm", "fml")
    assert not (root / "runs").exists()


def test_debug_shows_the_traceback_down_to_sqlite(trained_fml: Path, tmp_path: Path) -> None:
    root = copy_project(trained_fml, tmp_path / "project")
    _garbage(root / "mlflow.db")
    done = fmlpipe(root, "--debug", "run-stage", "train", "--algorithm", "fml")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "sqlite3.DatabaseError: file is not a database" in done.stderr
    assert "fmlpipe.errors.FmlpipeError: tracking store" in done.stderr


def test_a_held_lock_is_waited_for_busy_timeout_seconds_then_reported(trained_fml: Path, tmp_path: Path) -> None:
    root = copy_project(trained_fml, tmp_path / "project")
    store = resolve_store(small_params().tracking, root, env={})
    with _locked(root / "mlflow.db"):
        start = time.monotonic()
        with pytest.raises(FmlpipeError, match="is locked by another process"), opened(store):
            pass
        waited = time.monotonic() - start
    assert BUSY_TIMEOUT_S <= waited < BUSY_TIMEOUT_S + 2
    with opened(store) as client:  # the lock given back, the same store opens
        assert client.get_experiment_by_name("faults") is not None


def test_damage_that_sqlite_reports_as_rows_is_one_line_too(trained_fml: Path, tmp_path: Path) -> None:
    # Two pages appended and counted in the header, but in no table: MLflow would open the store;
    # SQLite's quick check reports "Page N is never used", on lines of its own.
    root = copy_project(trained_fml, tmp_path / "project")
    db = root / "mlflow.db"
    data = bytearray(db.read_bytes())
    page_size, pages = int.from_bytes(data[16:18], "big"), int.from_bytes(data[28:32], "big")
    data[28:32] = (pages + 2).to_bytes(4, "big")
    db.write_bytes(bytes(data) + bytes(2 * page_size))
    store = resolve_store(small_params().tracking, root, env={})
    with pytest.raises(FmlpipeError) as raised, opened(store):
        pass
    assert str(raised.value).startswith(f"tracking store {db} is corrupt (Page {pages + 1} is never used): ")
    assert "\n" not in str(raised.value)
