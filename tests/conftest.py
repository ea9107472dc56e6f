"""Shared fixtures: the project's own params.yaml as the base for every test's params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fmlpipe.config import Params, load_params

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="real Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)


@pytest.fixture
def raw_params() -> dict[str, Any]:
    """The repository's params.yaml as a plain mapping, for tests to edit."""
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def params() -> Params:
    return load_params(REPO / "params.yaml")


def with_section(params: Params, section: str, **changes: Any) -> Params:
    """A copy of ``params`` with some keys of one section replaced."""
    return params.model_copy(update={section: getattr(params, section).model_copy(update=changes)})
