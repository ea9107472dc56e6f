"""A moved or copied project's own store, pointed at its own folder.

MLflow records where artifacts live as absolute ``file://`` URIs: on each experiment (fixed
when it is created), each run and each logged model. A project moved or copied with its
``mlflow.db`` and ``mlartifacts/`` would otherwise keep logging artifacts into the old folder
(recreating it after a move, writing into the original after a copy), and after a move lose
its old artifacts from the UI and from ``runs:/`` URIs.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from fmlpipe.tracking.store import ARTIFACTS_DIR, TrackingStore, open_sqlite

# Every column in which MLflow 3 writes an artifact location (a test logs a run, its files and
# a global model, moves the project and finds them all again).
COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"), ("logged_models", "artifact_location"))


def _came_along(con: sqlite3.Connection, experiment_id: int, old: Path, here: Path) -> bool:
    """Whether an experiment's artifacts, recorded under ``old``, are in this project's folder:
    ``old`` is gone (the project moved), or holds a run whose folder is also here (copied
    along with the store). Another project logging into this store through
    ``MLFLOW_TRACKING_URI`` keeps its artifacts in its own folder, and its rows are left alone."""
    if not old.exists():
        return True
    runs = con.execute("SELECT run_uuid FROM runs WHERE experiment_id = ?", (experiment_id,))
    return any((here / run_id).is_dir() and (old / run_id).is_dir() for (run_id,) in runs)


def relocate_artifacts(store: TrackingStore) -> list[str]:
    """Rewrite the artifact locations of the project's own SQLite store that name another
    folder's ``mlartifacts/`` whose artifacts came along, to this project's; returns the old
    locations rewritten. Run after MLflow has opened the store, so its schema is the known one."""
    path = store.sqlite_path
    if store.ref_uri is not None or path is None or not path.is_file():
        return []
    here = store.project_root / ARTIFACTS_DIR
    con = open_sqlite(path)
    try:
        con.execute("BEGIN IMMEDIATE")
        experiments = con.execute("SELECT experiment_id, artifact_location FROM experiments").fetchall()
        moved = sorted({uri for experiment_id, uri in experiments
                        if uri.startswith("file://") and uri.endswith(f"/{ARTIFACTS_DIR}")
                        and uri != store.artifact_root
                        and _came_along(con, experiment_id, Path(unquote(urlparse(uri).path)), here)})
        for old in moved:
            for table, column in COLUMNS:
                # The folder itself or anything under it; the rest of the URI is kept.
                con.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                            (store.artifact_root, len(old) + 1, old, len(old) + 1, f"{old}/"))
        con.execute("COMMIT")
    finally:
        con.close()  # an uncommitted transaction is rolled back
    for old in moved:
        print(f"note: tracking store {path} was moved or copied: artifacts recorded under {old} now "
              f"point to {store.artifact_root}", file=sys.stderr)
    return moved
