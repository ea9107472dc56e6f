"""The global model's pip requirements, and MLflow's check of them without its scan of every
installed package.

``mlflow.pytorch.log_model`` checks the requirements it is given against this environment and
warns on a mismatch. To do that it first maps every importable module to its distribution
(``importlib_metadata.packages_distributions()``), reading the file list of every installed
distribution: 1.2 s in this project's venv, timed alone, where the CUDA build of torch brings
dozens of large nvidia packages (a tiny train stage takes about 16 s with tracking). The versions it
compares come from ``importlib.metadata.version(package)``; the map only names a module to import
where a package has no metadata. The requirements given here are pinned from this environment
and each is importable under its own name, so a map of just those packages answers every
question the check asks, and the check itself still runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import mlflow.pytorch
from mlflow.utils import requirements_utils
from packaging.requirements import Requirement


def pinned_requirements() -> list[str]:
    """The flavor's own requirements (torch, cloudpickle) pinned to this environment; MLflow adds
    itself. Given rather than inferred: MLflow infers them by loading the model in a subprocess that
    imports torch again, about 15 s of a tiny train stage on a 2-core CPU."""
    return list(mlflow.pytorch.get_default_pip_requirements())


@contextmanager
def modules_of(requirements: Sequence[str]) -> Iterator[None]:
    """Within the block, MLflow's module-to-package map holds just ``requirements``' packages,
    each under its own name; afterwards it is unset again, so that anything else in this process
    that needs the whole map still builds it. Where MLflow has already built the map, or keeps it
    elsewhere than it does today, this does nothing and MLflow behaves as it would alone."""
    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", ()) is not None:
        yield
        return
    names = [Requirement(line).name for line in requirements]
    setattr(requirements_utils, "_MODULES_TO_PACKAGES", {name: [name] for name in names})  # noqa: B010 - untyped there
    try:
        yield
    finally:
        requirements_utils._MODULES_TO_PACKAGES = None
        requirements_utils._PACKAGES_TO_MODULES = None
