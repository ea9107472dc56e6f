"""Named variants: applied over the base params before validation, each error one line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fmlpipe.config import load_params
from fmlpipe.config.variants import apply_variant, parse_assignments
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import configured
from fmlpipe.paths import Paths
from tests.conftest import REPO


def _write(tmp_path: Path, raw: dict[str, Any], variants: dict[str, Any]) -> Path:
    raw = copy.deepcopy(raw)
    raw["variants"] = variants
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_variant_replaces_exactly_its_keys(tmp_path: Path, raw_params: dict[str, Any]) -> None:
    path = _write(tmp_path, raw_params, {"catfish": {"models.local_overrides": {0: "cnn_same"},
                                                     "federation.optimizer.lr": 0.05}})
    base, varied = load_params(path), load_params(path, "catfish")
    assert varied.models.local_overrides == {0: "cnn_same"} and varied.federation.optimizer.lr == 0.05
    assert varied.models.local_for(0) == "cnn_same" and varied.models.local_for(1) == base.models.local
    assert varied.model_copy(update={"models": base.models, "federation": base.federation}) == base


@pytest.mark.parametrize(("variants", "name", "message"), [
    ({"a": {}}, "b", r"unknown variant 'b' \(variants: a\)"),
    ({}, "a", r"unknown variant 'a' \(variants: none defined\)"),
    ({"a": {"modles.local": "mlp"}}, "a", r"variants.a: 'modles.local' names no section"),
    ({"a": {"models.locl": "mlp"}}, "a", r"variants.a: unknown key 'models.locl'"),
    ({"a": {"models.local": 3}}, "a", r"\(variant a\): models.local=3: Input should be a valid string"),
    ({"a": {"variants.b": {}}}, "a", r"a variant cannot change 'variants'"),
    ({"A b": {}}, "A b", r"variant name 'A b' must be lowercase"),
    ({"a": [1]}, "a", r"variants.a must map dotted keys to values, got list"),
])
def test_bad_variants_fail_in_one_line(tmp_path: Path, raw_params: dict[str, Any], variants: dict[str, Any],
                                       name: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message) as info:
        load_params(_write(tmp_path, raw_params, variants), name)
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_apply_leaves_the_loaded_mapping_alone(raw_params: dict[str, Any]) -> None:
    raw = {**raw_params, "variants": {"v": {"base.seed": 7}}}
    before = copy.deepcopy(raw)
    assert apply_variant(raw, "v", "p")["base"]["seed"] == 7 and raw == before


def test_a_variant_reads_and_writes_under_its_folder() -> None:
    paths = Paths.of(Path("pipelines/dom/params.yaml"), "catfish")
    assert paths.run_dir("fml") == Path("pipelines/dom/catfish/runs/fml")
    assert paths.pipeline_root == Path("pipelines/dom")
    assert Paths.of(Path("params.yaml")).run_dir("fml") == Path("runs/fml")


@pytest.mark.parametrize("pipeline", ["dom", "paper", "pfl", "numerics"])
def test_every_shipped_variant_is_valid(pipeline: str) -> None:
    path = REPO / "pipelines" / pipeline / "params.yaml"
    base = load_params(path)
    assert base.variants
    for name in base.variants:
        configured(load_params(path, name))  # raises on a bad key or value, algorithm sections included


@pytest.mark.parametrize("pipeline", ["pfl", "numerics"])
def test_summary_reads_every_variant(pipeline: str) -> None:
    variants = load_params(REPO / "pipelines" / pipeline / "params.yaml").variants
    stages = yaml.safe_load((REPO / "pipelines" / pipeline / "dvc.yaml").read_text())["stages"]
    runs = [d for d in stages["summarize"]["deps"] if d.endswith("/runs")]
    assert runs == [f"{name}/runs" for name in variants]


def test_tasks_refuse_undefined_and_gappy_label_maps(raw_params: dict[str, Any], tmp_path: Path) -> None:
    for tasks, message in [({"label_maps": {}, "cycle": ["coarse"], "overrides": {}},
                            r"tasks: task 'coarse' in cycle is not defined \(allowed: full\)"),
                           ({"label_maps": {"c": [0, 2, 2]}, "cycle": [], "overrides": {}},
                            r"label_maps.c=\[0, 2, 2\]: task labels must be 0..k-1"),
                           ({"label_maps": {"full": [0]}, "cycle": [], "overrides": {}},
                            r"tasks: label_maps cannot define 'full'")]:
        raw = {**raw_params, "tasks": tasks}
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
        with pytest.raises(ParamsError, match=message):
            load_params(tmp_path / "p.yaml")


def test_numerics_is_the_default_setting() -> None:
    """pipelines/numerics varies precision and standardization over the root's own setting."""
    root = load_params(REPO / "params.yaml").model_dump()
    numerics = load_params(REPO / "pipelines/numerics/params.yaml").model_dump()
    assert numerics["algorithms"] == {"fml": root["algorithms"]["fml"]}
    assert numerics["tracking"]["experiment"] == "fmlpipe-numerics"
    for section in ("algorithms", "tracking", "variants"):
        del root[section], numerics[section]
    assert numerics == root


def test_set_assignments_read_their_values_as_yaml_and_refuse_a_missing_equals() -> None:
    parsed = parse_assignments(["federation.rounds=3", "models.local_cycle=[mlp, cnn]", "tracking.uri=",
                                "data.name=a=b"], "--set")
    assert parsed == {"federation.rounds": 3, "models.local_cycle": ["mlp", "cnn"], "tracking.uri": None,
                      "data.name": "a=b"}
    for bad in ("federation.rounds", "=3"):
        with pytest.raises(ParamsError, match=rf"^--set {bad}: give dotted.key=value \(e.g. federation.rounds=3\)$"):
            parse_assignments([bad], "--set")
