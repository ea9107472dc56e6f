"""The small real setup lives in tests/conftest.py (re-exported for older imports), and an
interrupted train stage for the resume tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmlpipe.config import Params
from fmlpipe.paths import Paths
from fmlpipe.train import stage
from tests.conftest import small_params

__all__ = ["run_files", "simulation_starts", "small_params", "train_interrupted"]


def train_interrupted(params: Params, paths: Paths, algorithm: str, after_round: int,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the train stage until the checkpoint of ``after_round`` is written, then interrupt it
    (as Ctrl-C would)."""
    real_save = stage.save_checkpoint

    def crash(path, state, personal, key):  # type: ignore[no-untyped-def]
        real_save(path, state, personal, key)
        if state.round == after_round:
            raise KeyboardInterrupt

    monkeypatch.setattr(stage, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        stage.run_train(params, paths, algorithm)
    monkeypatch.setattr(stage, "save_checkpoint", real_save)


def simulation_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The round each simulation of the train stage starts after, from now on (0: from scratch)."""
    starts: list[int] = []
    real = stage.simulate

    def counting(alg, backend, pool, state, rounds, on_round):  # type: ignore[no-untyped-def]
        starts.append(state.round)
        return real(alg, backend, pool, state, rounds, on_round)

    monkeypatch.setattr(stage, "simulate", counting)
    return starts


def run_files(run_dir: Path) -> dict[str, bytes]:
    """A run folder's files and their bytes, less what holds wall-clock times."""
    skip = {"timing.json", "checkpoint.safetensors"}  # wall-clock times differ between runs
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name not in skip}
