"""The small real setup lives in tests/conftest.py (re-exported for older imports), and an
interrupted train stage for the resume tests."""

from __future__ import annotations

import pytest

from fmlpipe.config import Params
from fmlpipe.paths import Paths
from fmlpipe.train import stage
from tests.conftest import small_params

__all__ = ["small_params", "train_interrupted"]


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
