"""The benchmark's settings, fixed here rather than read from the project's params.yaml so
that every run measures the same experiment."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fmlpipe.config import Params, parse_params

SETTINGS = ("A", "B", "scale")
ENGINES = ("sequential", "parallel", "vectorized")


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

    @property
    def data_key(self) -> tuple[float, str, int]:
        """Cases with the same key share prepared and partitioned data."""
        return self.data_fraction, self.scheme, self.num_clients

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def params(self) -> Params:
        return parse_params(_raw_params(self), source=f"bench setting {self.setting}")


def cases(settings: list[str], engines: list[str], rounds: int, data_fraction: float,
          clients: int = 20, scale_clients: int = 1000, model: str = "cnn") -> list[Case]:
    """Setting A (FML, batch 10) and B (batch 64): ``clients`` Dirichlet(0.1) clients, all
    every round. Scale: ``scale_clients`` clients of two label shards each (Dirichlet(0.1)
    leaves some of 1,000 clients empty), 10% per round, FedAvg and FML; and a reference with a
    tenth of the clients (on a tenth of the data, so clients are as large), all per round: the
    same participants, a tenth of the total. ``model``: the architecture of every model."""
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
            else:
                raise ValueError(f"unknown setting {setting!r} (known: {', '.join(SETTINGS)})")
    return out


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
            "grad_clip": None, "engine": case.engine,
        },
        "models": {"global": case.model, "local": case.model, "local_cycle": [], "local_overrides": {}},
        "tasks": {"label_maps": {}, "cycle": [], "overrides": {}},
        "algorithms": {
            "fml": {"alpha": 0.5, "beta": 0.5, "schedule": "constant", "alpha_target": 0.5,
                    "beta_target": 0.5, "step_every": 10, "step_size": 0.4},
            "fedavg": {},
        },
        "convergence": {"window": 3, "tolerance": 0.05},
        "tracking": {"enabled": False, "uri": None, "experiment": "bench"},
        "variants": {},
    }
