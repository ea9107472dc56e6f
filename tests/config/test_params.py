from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fmlpipe.config import Params, load_params, parse_params
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import configured
from tests.conftest import REPO


def test_repository_params_parse_into_frozen_sections() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.dataset == "fashion_mnist"
    assert params.models.global_ == "cnn"
    assert params.federation.optimizer.name == "sgd"
    with pytest.raises(ValidationError, match="frozen"):
        params.base.seed = 1  # type: ignore[misc]


def _parse(raw: dict[str, Any], source: str) -> Params:
    """The generic sections, then each algorithm's section by its own params class (what every
    ``fmlpipe run-stage`` does before any work)."""
    params = parse_params(raw, source=source)
    configured(params, source)
    return params


def _set(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("base.seed", -1, "base.seed=-1: Input should be greater than or equal to 0"),
        ("base.seed", "7", "base.seed='7': Input should be a valid integer"),
        ("base.device", "tpu", "base.device='tpu': Input should be 'auto', 'cpu' or 'cuda'"),
        ("data.dataset", "imagenet", "data.dataset='imagenet': Input should be"),
        ("data.train_fraction", 0.0, "data.train_fraction=0.0: Input should be greater than 0"),
        ("data.download", "yes", "data.download='yes': Input should be a valid boolean"),
        ("partition.alpha", 0, "partition.alpha=0: Input should be greater than 0"),
        ("partition.num_clients", 0, "partition.num_clients=0: Input should be greater than or equal to 1"),
        ("partition.scheme", "random", "partition.scheme='random': Input should be"),
        ("partition.local_test_fraction", 1.0, "partition.local_test_fraction=1.0: Input should be less than 1"),
        ("federation.rounds", 2.5, "federation.rounds=2.5: Input should be a valid integer"),
        ("federation.clients_per_round", 1.5, "federation: clients_per_round=1.5: a float is a fraction"),
        ("federation.clients_per_round", 0, "federation: clients_per_round=0: a count must be >= 1"),
        ("federation.optimizer.lr", -0.1, "federation.optimizer.lr=-0.1: Input should be greater than 0"),
        ("algorithms.fml.alpha", 1.5, "algorithms.fml.alpha=1.5: Input should be less than or equal to 1"),
        ("algorithms.fedprox.mu", -1.0, "algorithms.fedprox.mu=-1.0: Input should be greater than or equal to 0"),
        ("execution.checkpoint_seconds", -1, "execution.checkpoint_seconds=-1: Input should be greater than or equal "
                                             "to 0"),
    ],
)
def test_bad_values_name_key_value_and_rule(raw_params: dict[str, Any], key: str, value: Any, expected: str) -> None:
    with pytest.raises(ParamsError) as info:
        _parse(_set(raw_params, key, value), source="params.yaml")
    assert str(info.value).startswith(f"params.yaml: {expected}")
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_unknown_key_lists_the_allowed_keys(raw_params: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_params)
    raw["partition"]["alpah"] = 0.3
    with pytest.raises(ParamsError, match=r"unknown key 'partition.alpah' \(allowed here: scheme, num_clients, alpha,"):
        parse_params(raw)


def test_unknown_key_under_aliased_section_lists_alias(raw_params: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_params)
    raw["models"]["globl"] = "cnn"
    allowed = "global, local, local_cycle, local_overrides"
    with pytest.raises(ParamsError, match=rf"unknown key 'models.globl' \(allowed here: {allowed}\)"):
        parse_params(raw)


def test_missing_section_and_missing_key(raw_params: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_params)
    del raw["federation"]
    with pytest.raises(ParamsError, match="missing key 'federation'"):
        parse_params(raw)
    raw = copy.deepcopy(raw_params)
    del raw["partition"]["min_samples"]
    with pytest.raises(ParamsError, match="missing key 'partition.min_samples'"):
        parse_params(raw)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("base:\n  seed: 0\n   device: cpu\n")
    with pytest.raises(ParamsError, match=r"params.yaml: not valid YAML at line 3"):
        load_params(bad)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping of sections at the top level, got list"):
        load_params(bad)


def test_int_is_accepted_where_a_float_is_expected(raw_params: dict[str, Any]) -> None:
    params = parse_params(_set(raw_params, "partition.alpha", 1))
    assert params.partition.alpha == 1.0


def test_clients_per_round_int_is_a_count_and_float_a_fraction(raw_params: dict[str, Any]) -> None:
    assert parse_params(_set(raw_params, "federation.clients_per_round", 1)).federation.clients_per_round == 1
    fraction = parse_params(_set(raw_params, "federation.clients_per_round", 1.0)).federation.clients_per_round
    assert isinstance(fraction, float) and fraction == 1.0
    assert yaml.safe_load("x: 1.0")["x"] == 1.0
