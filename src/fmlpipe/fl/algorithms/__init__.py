"""The algorithm registry: adding an algorithm is one new file and one line here (plus its
params section in ``config.schema``)."""

from __future__ import annotations

from pydantic import BaseModel

from fmlpipe.config import Params
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms.base import Algorithm, SimContext
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.algorithms.fedprox import FedProx
from fmlpipe.fl.algorithms.fml import FML
from fmlpipe.fl.algorithms.local_only import LocalOnly

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (FML, FedAvg, FedProx, LocalOnly)
}


def algorithm_class(name: str | None, configured: dict[str, BaseModel | None]) -> type[Algorithm]:
    """Check ``--algorithm NAME`` against the registry and the params' ``algorithms`` section."""
    if name is None:
        raise ParamsError("train needs --algorithm NAME (one of the sections under `algorithms` in params)")
    if name not in ALGORITHMS:
        raise ParamsError(f"--algorithm {name!r} is not a known algorithm (known: {', '.join(ALGORITHMS)})")
    if configured.get(name) is None:
        raise ParamsError(f"--algorithm {name!r} has no section algorithms.{name} in params")
    return ALGORITHMS[name]


def refuse_heterogeneity(cls: type[Algorithm], params: Params) -> None:
    """Fail with one line when clients differ in local model or task but ``cls`` trains only the
    shared model (it would silently ignore the setting)."""
    if cls.supports_heterogeneity:
        return
    able = " and ".join(name for name, c in ALGORITHMS.items() if c.supports_heterogeneity)
    for keys, differ in (("models.local_cycle/local_overrides", params.models.heterogeneous),
                         ("tasks.cycle/overrides", params.tasks.heterogeneous)):
        if differ:
            raise ParamsError(f"algorithms.{cls.name} cannot honour {keys}: {cls.__name__} trains one shared "
                              f"model; only {able} have per-client local models")
