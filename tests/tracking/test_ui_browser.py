"""``fmlpipe ui`` end to end: runs written to a project's SQLite store show up in the MLflow
UI as rendered by a real headless browser, and Ctrl-C stops the server cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import sys
import urllib.request
from pathlib import Path

import yaml
from mlflow import MlflowClient

from fmlpipe.config import load_params
from fmlpipe.tracking.store import resolve_store
from tests.conftest import REPO
from tests.tracking.servers import free_port, render_dom, start, stop

RUNS = ("fml", "fedavg", "fedprox", "local")
SCREENSHOT = REPO / "test-artifacts" / "mlflow-ui.png"


def make_project(root: Path) -> Path:
    """A project of its own (``.dvc``) whose store holds experiment ``ui-test`` with four runs."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tracking"].update(experiment="ui-test", uri=None)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    (root / ".dvc").mkdir()
    store = resolve_store(load_params(params).tracking, root, env={})
    client = MlflowClient(store.uri)
    experiment_id = client.create_experiment(store.experiment, artifact_location=store.artifact_root)
    for i, name in enumerate(RUNS):
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_metric(run_id, "acc_personalized_mean", 0.6 + i / 10, step=1)
        client.log_metric(run_id, "loss", 1.5 - i / 10, step=1)
        if name == "fml":
            (root / "note.txt").write_text("fml\n")
            client.log_artifact(run_id, str(root / "note.txt"))
        client.set_terminated(run_id)
    return params


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_ui_shows_the_experiments_runs(tmp_path: Path) -> None:
    params = make_project(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ui-test")
    fml = client.search_runs([experiment.experiment_id], "attributes.run_name = 'fml'")[0]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    cmd = [sys.executable, "-m", "fmlpipe", "ui", "--port", str(port), "--params", str(params)]
    server = start(cmd, f"{url}/health", tmp_path / "ui.log", env)
    try:
        # The UI is a single-page app; the experiment's own route opens on the GenAI overview,
        # its runs table is at .../runs.
        dom = render_dom(f"{url}/#/experiments/{experiment.experiment_id}/runs", SCREENSHOT)
        # Artifacts resolve: the server reads the project's artifact root.
        listing = f"{url}/api/2.0/mlflow/artifacts/list?run_id={fml.info.run_id}"
        with urllib.request.urlopen(listing, timeout=10) as response:
            files = json.load(response)["files"]
    finally:
        code = stop(server, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group

    texts = {t.strip() for t in re.findall(r">([^<>]+)<", dom)}
    assert "ui-test" in texts
    assert set(RUNS) <= texts, f"run names missing from the rendered runs page: {set(RUNS) - texts}"
    assert [f["path"] for f in files] == ["note.txt"]
    assert png_size(SCREENSHOT) == (1400, 900) and SCREENSHOT.stat().st_size > 20_000
    assert code == 0, server.output()
    output = server.output(0)
    assert f"at {url} (Ctrl-C stops it)" in output
    assert "Traceback" not in output
