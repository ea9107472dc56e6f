"""MLflow checks the global model's requirements against this environment without scanning every
installed package, and comes to the same requirements as with the scan."""

from __future__ import annotations

import importlib_metadata as metadata  # the module whose scan MLflow calls (its requirements_utils imports it)
import pytest
from mlflow.utils import requirements_utils
from mlflow.utils.environment import _process_pip_requirements

from fmlpipe.tracking.model_requirements import modules_of, pinned_requirements


def _processed(requirements: list[str]) -> tuple[object, ...]:
    """What MLflow writes for the model: its conda env, requirements and constraints."""
    processed: tuple[object, ...] = _process_pip_requirements(  # type: ignore[no-untyped-call]
        list(requirements), pip_requirements=list(requirements))
    return processed


def test_the_check_runs_without_the_scan_and_gives_what_the_scan_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    requirements = pinned_requirements()
    assert {line.split("==")[0] for line in requirements} == {"torch", "cloudpickle"}
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    with_scan = _processed(requirements)  # MLflow alone: builds the whole map
    assert requirements_utils._MODULES_TO_PACKAGES is not None

    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    checked: list[tuple[str, object]] = []
    scans: list[int] = []
    real_check, real_scan = requirements_utils._check_requirement_satisfied, metadata.packages_distributions

    def check(line: str) -> object:
        result = real_check(line)
        checked.append((line, result))  # after the call: MLflow swallows an exception raised in it
        return result

    def scan() -> object:
        scans.append(1)
        return real_scan()

    monkeypatch.setattr(requirements_utils, "_check_requirement_satisfied", check)
    monkeypatch.setattr(metadata, "packages_distributions", scan)
    with modules_of(requirements):
        without_scan = _processed(requirements)
    assert without_scan == with_scan
    assert scans == []
    mlflow_pin = f"mlflow=={requirements_utils.mlflow.__version__}"
    assert sorted(checked, key=str) == sorted([(line, None) for line in (mlflow_pin, *requirements)], key=str)
    assert requirements_utils._MODULES_TO_PACKAGES is None  # anything later builds the whole map


def test_a_mismatch_is_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    with modules_of(["torch==0.0.1"]):
        mismatch = requirements_utils._check_requirement_satisfied("torch==0.0.1")
    assert mismatch is not None and mismatch.package_name == "torch" and mismatch.requirement == "torch==0.0.1"


def test_a_map_already_built_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    built = {"torch": ["torch"], "numpy": ["numpy"]}
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", built)
    with modules_of(["torch==1"]):
        assert requirements_utils._MODULES_TO_PACKAGES is built
    assert requirements_utils._MODULES_TO_PACKAGES is built
