"""Stages depend on their code fingerprints, with real DVC: a comment or docstring edit re-runs
nothing, a real change re-runs the stages that import the module. Only `train@fml` is trained,
on 3% of Fashion-MNIST over 4 clients for one round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_fashion
from tests.e2e.kit import copy_repo, ran, run

pytestmark = [pytest.mark.e2e, needs_fashion]


def _tiny(params: dict[str, Any]) -> None:
    params["data"]["train_fraction"] = 0.03
    params["partition"].update(num_clients=4, min_samples=20)
    params["federation"]["rounds"] = 1
    params["models"].update({"global": "mlp", "local": "mlp"})
    params["tracking"]["enabled"] = False


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_comments_rerun_nothing_and_real_changes_rerun_the_importers(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy_repo(tmp_path, {"params.yaml": _tiny})
    monkeypatch.setenv("PYTHONPATH", str(repo / "src"))  # the copy's code runs, and is fingerprinted
    assert ran(run(["dvc", "repro", "train@fml"], repo)) == ["code", "prepare", "partition", "train@fml"]
    fingerprint = (repo / "code/train.sha256").stat()

    engine = repo / "src/fmlpipe/fl/engines/parallel.py"
    engine.write_text(engine.read_text().replace('"""The parallel engine', '"""Edited: the parallel engine', 1)
                      + "\n# a comment\n")
    assert ran(run(["dvc", "repro", "train@fml"], repo)) == ["code"]
    after = (repo / "code/train.sha256").stat()
    assert (after.st_ino, after.st_mtime_ns) == (fingerprint.st_ino, fingerprint.st_mtime_ns)  # not rewritten

    _append(engine, "\nWORKERS_NOTE = 1\n")  # real code, but only train imports the engines
    run(["dvc", "repro", "code"], repo)
    status = json.loads(run(["dvc", "status", "--json", "prepare", "partition", "train@fml"], repo))
    assert status == {"train@fml": [{"changed deps": {"code/train.sha256": "modified"}}]}

    _append(repo / "src/fmlpipe/io.py", "\nIO_NOTE = 1\n")  # every stage writes through fmlpipe.io
    run(["dvc", "repro", "code"], repo)
    status = json.loads(run(["dvc", "status", "--json", "prepare", "partition", "train@fml"], repo))
    assert status == {stage: [{"changed deps": {f"code/{stage.split('@')[0]}.sha256": "modified"}}]
                      for stage in ("prepare", "partition", "train@fml")}
