"""The algorithm registry: adding an algorithm is one new file (its class and its params class)
and one line here. ``params.yaml``'s ``algorithms`` section says which of them run."""

from __future__ import annotations

from fmlpipe.config import Params
from fmlpipe.config.load import parse_section
from fmlpipe.config.schema import Section
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms.apfl import APFL
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.algorithms.ditto import Ditto
from fmlpipe.fl.algorithms.fedavg import FedAvg
from fmlpipe.fl.algorithms.fedavg_ft import FedAvgFT
from fmlpipe.fl.algorithms.fedper import FedPer
from fmlpipe.fl.algorithms.fedprox import FedProx
from fmlpipe.fl.algorithms.fedrep import FedRep
from fmlpipe.fl.algorithms.fml import FML
from fmlpipe.fl.algorithms.local_only import LocalOnly

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (FML, FedAvg, FedAvgFT, FedProx, LocalOnly, Ditto, FedRep, FedPer, APFL)
}


def configured(params: Params, source: str = "params") -> dict[str, tuple[type[Algorithm], Section]]:
    """Every section under ``algorithms``, in the file's order: its algorithm and its params,
    validated by the algorithm's own params class. Raises :class:`ParamsError` naming the key."""
    if not params.algorithms:
        raise ParamsError(f"{source}: algorithms: no algorithm section present (known: {', '.join(ALGORITHMS)})")
    out = {}
    for name, raw in params.algorithms.items():
        if name not in ALGORITHMS:
            raise ParamsError(f"{source}: algorithms.{name} is not a known algorithm (known: {', '.join(ALGORITHMS)})")
        cls = ALGORITHMS[name]
        out[name] = cls, parse_section(cls.params_class, raw, f"algorithms.{name}", source)
    return out


def algorithm_class(name: str | None, params: Params) -> tuple[type[Algorithm], Section]:
    """Check ``--algorithm NAME`` against the registry and the params' ``algorithms`` section."""
    if name is None:
        raise ParamsError("train needs --algorithm NAME (one of the sections under `algorithms` in params)")
    if name not in ALGORITHMS:
        raise ParamsError(f"--algorithm {name!r} is not a known algorithm (known: {', '.join(ALGORITHMS)})")
    sections = configured(params)
    if name not in sections:
        raise ParamsError(f"--algorithm {name!r} has no section algorithms.{name} in params")
    return sections[name]


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
