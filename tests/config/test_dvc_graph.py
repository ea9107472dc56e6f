"""Every shipped dvc.yaml orders its stages by what they read: a stage that evaluates or
summarizes runs after every train stage whose runs it reads (DVC's own graph, no stage run)."""

from __future__ import annotations

import fnmatch
import re
import shlex

import networkx as nx
import pytest
from dvc.repo import Repo

from tests.conftest import REPO

DVC_FILES = ["dvc.yaml", *(f"pipelines/{p}/dvc.yaml" for p in ("dom", "paper", "pfl", "numerics"))]


def _option(cmd: str, name: str) -> str | None:
    words = shlex.split(cmd)
    return words[words.index(name) + 1] if name in words else None


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return Repo(str(REPO)).index.graph


@pytest.mark.parametrize("dvc_file", DVC_FILES)
def test_readers_depend_on_every_run_they_read(graph: nx.DiGraph, dvc_file: str) -> None:
    stages = [s for s in graph.nodes if s.dvcfile.relpath == dvc_file]
    trains = [s for s in stages if re.search(r"run-stage train\b", s.cmd or "")]
    readers = [s for s in stages if re.search(r"run-stage (evaluate|summarize)\b", s.cmd or "")]
    assert trains and readers
    for reader in readers:
        variant, match = _option(reader.cmd, "--variant"), _option(reader.cmd, "--match") or "*"
        read = {t.addressing for t in trains
                if (_option(t.cmd, "--variant") or "") == variant
                or (variant is None and fnmatch.fnmatch(_option(t.cmd, "--variant") or "", match))}
        upstream = {s.addressing for s in nx.descendants(graph, reader)}  # edges point at dependencies
        assert read - upstream == set(), f"{reader.addressing} can run before {sorted(read - upstream)}"
