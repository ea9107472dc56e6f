"""The benchmark's settings: A, B and scale fixed here rather than read from the project's
params.yaml, so that every run measures the same experiment; ``default`` is the project's own
default pipeline (its params file), one case per algorithm it runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from fmlpipe.config import Params, load_params, parse_params

SETTINGS = ("A", "B", "scale", "default")
ENGINES = ("sequential", "parallel", "vectorized")
PRECISIONS = ("fp32", "bf16")
COMPILES = ("auto", "off", "on", "graphs")  # federation.compile
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Case:
    """One measured run: a setting, an algorithm and an engine."""

    setting: str  # A | B | scale | scale-ref
    algorithm: str  # fml | fedavg
    engine: str  # sequential | parallel | vectorized
    num_clients: int
    clients_per_round: float
    batch_size: int
    scheme: str  # partition scheme: dirichlet | shards
    data_fraction: float
    rounds: int
    model: str = "cnn"  # every model of the case (the targets are the cnn's)
    precision: str = "fp32"  # fp32 | bf16 (``federation.precision``)
    compile: str = "auto"  # auto | off | on | graphs (``federation.compile``)
    params_file: str | None = None  # the ``default`` setting: the project's params file
    backend: str = "local"  # local | ray (``execution.backend``)
    workers: int = 1  # ray: worker actors of one CPU each (``execution.workers``)
    repeat: int = 0  # which of the case's runs (``fmlpipe bench --repeats``), from 0

    @property
    def data_key(self) -> tuple[float, str, int, str | None]:
        """Cases with the same key share prepared and partitioned data."""
        return self.data_fraction, self.scheme, self.num_clients, self.params_file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def params(self) -> Params:
        if self.params_file is None:
            return parse_params(_raw_params(self), source=f"bench setting {self.setting}")
        return _project_params(self)


def cases(settings: list[str], engines: list[str], rounds: int, data_fraction: float,
          clients: int = 20, scale_clients: int = 1000, model: str = "cnn", precisions: tuple[str, ...] = ("fp32",),
          params_file: str = "params.yaml", backends: tuple[str, ...] = ("local",), workers: int = 2,
          repeats: int = 1, compiles: tuple[str, ...] = ("auto",)) -> list[Case]:
    """Setting A (FML, batch 10) and B (batch 64): ``clients`` Dirichlet(0.1) clients, all
    every round. Scale: ``scale_clients`` clients of two label shards each (Dirichlet(0.1)
    leaves some of 1,000 clients empty), 10% per round, FedAvg and FML; and a reference with a
    tenth of the clients (on a tenth of the data, so clients are as large), all per round: the
    same participants, a tenth of the total. ``model``: the architecture of every model. Default:
    one case per algorithm of ``params_file`` (its data, clients, models and budget; ``rounds``
    rounds). Every case once per precision in ``precisions``, compilation in ``compiles`` and
    backend in ``backends`` (the Ray backend with ``workers`` one-CPU workers, each running the
    case's engine). The variants of one case run one after another, so that the ratios the report
    takes between them (bf16 over fp32, Ray over local) are of runs minutes apart rather than the
    whole benchmark apart: the load of a shared machine drifts. ``on`` and ``graphs`` compile the
    vectorized engine's step and apply to its cases alone. With ``repeats`` above 1 the variants
    run in turns that many times (fp32, bf16, fp32, bf16, ...), each turn numbered by ``repeat``."""
    found = _cases(settings, engines, rounds, data_fraction, clients, scale_clients, model, params_file)
    return [replace(case, precision=precision, compile=compile, backend=backend,
                    workers=workers if backend == "ray" else 1, repeat=repeat)
            for case in found for repeat in range(repeats) for backend in backends for compile in compiles
            for precision in precisions if compile in ("auto", "off") or case.engine == "vectorized"]


def _cases(settings: list[str], engines: list[str], rounds: int, data_fraction: float, clients: int,
           scale_clients: int, model: str, params_file: str) -> list[Case]:
    out: list[Case] = []
    for setting in settings:
        for engine in engines:
            if setting in ("A", "B"):
                batch = 10 if setting == "A" else 64
                out.append(Case(setting, "fml", engine, clients, 1.0, batch, "dirichlet", data_fraction, rounds, model))
            elif setting == "scale":
                ref = max(1, scale_clients // 10)
                for algorithm in ("fedavg", "fml"):
                    out.append(Case("scale", algorithm, engine, scale_clients, 0.1, 10, "shards", data_fraction,
                                    rounds, model))
                    out.append(Case("scale-ref", algorithm, engine, ref, 1.0, 10, "shards",
                                    data_fraction / 10, rounds, model))
            elif setting == "default":
                project = load_params(params_file)
                for algorithm in project.algorithms:
                    out.append(Case("default", algorithm, engine, project.partition.num_clients,
                                    float(project.federation.clients_per_round), project.federation.batch_size,
                                    project.partition.scheme, project.data.train_fraction, rounds,
                                    project.models.global_, params_file=params_file))
            else:
                raise ValueError(f"unknown setting {setting!r} (known: {', '.join(SETTINGS)})")
    return out


def _project_params(case: Case) -> Params:
    """The project's params with the case's engine, precision, rounds and backend, tracking off,
    evaluated every round (the report scales evaluation to the project's own schedule)."""
    assert case.params_file is not None
    params = load_params(case.params_file)
    fed = params.federation.model_copy(update={"engine": case.engine, "precision": case.precision,
                                               "compile": case.compile, "rounds": case.rounds, "eval_every": 1})
    tracking = params.tracking.model_copy(update={"enabled": False})
    execution = params.execution.model_copy(update=_execution(case))
    return params.model_copy(update={"federation": fed, "tracking": tracking, "execution": execution})


def _execution(case: Case) -> dict[str, Any]:
    """A private local Ray instance (no address) of ``workers`` one-CPU workers, or none."""
    return {"backend": case.backend, "address": None, "workers": case.workers, "cpus_per_worker": 1,
            "gpus_per_worker": 0.0, "checkpoint_seconds": 0.0}


def _raw_params(case: Case) -> dict[str, Any]:
    return {
        "base": {"seed": 0, "device": "auto"},
        "data": {"dataset": "fashion_mnist", "root": "data/raw", "download": False,
                 "train_fraction": case.data_fraction, "per_class_cap": None, "normalize": True},
        "partition": {"scheme": case.scheme, "num_clients": case.num_clients, "alpha": 0.1,
                      "classes_per_client": 2, "quantity_distribution": "lognormal", "sigma": 1.0,
                      "min_samples": 20, "local_test_fraction": 0.1},  # 54k of 60k samples train
        "federation": {
            "rounds": case.rounds, "clients_per_round": case.clients_per_round, "local_epochs": 1,
            "local_steps": None, "batch_size": case.batch_size, "eval_every": 1, "aggregation": "weighted",
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "state": "persistent"},
            "lr_schedule": {"name": "constant", "step_rounds": 10, "gamma": 0.1},
            "grad_clip": None, "engine": case.engine, "precision": case.precision, "compile": case.compile,
        },
        "models": {"global": case.model, "local": case.model, "local_cycle": [], "local_overrides": {}},
        "tasks": {"label_maps": {}, "cycle": [], "overrides": {}},
        "algorithms": {
            "fml": {"alpha": 0.5, "beta": 0.5, "schedule": "constant", "alpha_target": 0.5,
                    "beta_target": 0.5, "step_every": 10, "step_size": 0.4},
            "fedavg": {},
        },
        "convergence": {"window": 10, "tolerance": 0.05},
        "execution": _execution(case),
        "tracking": {"enabled": False, "uri": None, "experiment": "bench"},
        "variants": {},
    }
