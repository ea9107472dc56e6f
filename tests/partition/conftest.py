"""Fixtures for partition tests: partition params from the project's params.yaml, tiny label sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fmlpipe.config import Params
from fmlpipe.config.schema import PartitionParams

MakeParams = Callable[..., PartitionParams]


@pytest.fixture
def make_p(params: Params) -> MakeParams:
    """``make_p(scheme="iid", num_clients=4)``: the repository's partition section, edited."""

    def make(**changes: Any) -> PartitionParams:
        return params.partition.model_copy(update=changes)

    return make


def balanced(num_classes: int, per_class: int) -> np.ndarray:
    """Labels ``0..C-1`` with ``per_class`` samples each, interleaved (0, 1, ..., C-1, 0, 1, ...)."""
    return np.tile(np.arange(num_classes, dtype=np.int64), per_class)
