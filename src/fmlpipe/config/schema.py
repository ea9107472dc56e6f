"""The typed, frozen shape of ``params.yaml``: one class per section.

Every key is required so that a params file states the whole experiment; unknown keys are
refused (a typo must not silently fall back to a default). Values are checked strictly: a
string is never coerced into a number, nor a number into a bool.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DATASETS = ("fashion_mnist", "mnist", "cifar10", "cifar100")
SCHEMES = ("iid", "dirichlet", "shards", "quantity")


class Section(BaseModel):
    """Base of every params section: immutable, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class BaseParams(Section):
    seed: int = Field(ge=0, le=2**32 - 1)
    device: Literal["auto", "cpu", "cuda"]


class DataParams(Section):
    dataset: Literal["fashion_mnist", "mnist", "cifar10", "cifar100"]
    root: str = Field(min_length=1)
    download: bool
    train_fraction: float = Field(gt=0.0, le=1.0)
    per_class_cap: int | None = Field(ge=1)


class PartitionParams(Section):
    scheme: Literal["iid", "dirichlet", "shards", "quantity"]
    num_clients: int = Field(ge=1, le=100_000)
    alpha: float = Field(gt=0.0, le=1e6)
    classes_per_client: int = Field(ge=1)
    quantity_distribution: Literal["dirichlet", "lognormal"]
    sigma: float = Field(gt=0.0, le=10.0)
    min_samples: int = Field(ge=2)
    local_test_fraction: float = Field(gt=0.0, lt=1.0)


class OptimizerParams(Section):
    name: Literal["sgd", "adam"]
    lr: float = Field(gt=0.0, le=10.0)
    momentum: float = Field(ge=0.0, lt=1.0)
    weight_decay: float = Field(ge=0.0, le=1.0)


class LrScheduleParams(Section):
    name: Literal["constant", "step", "cosine"]
    step_rounds: int = Field(ge=1)
    gamma: float = Field(gt=0.0, le=1.0)


class FederationParams(Section):
    rounds: int = Field(ge=1, le=100_000)
    clients_per_round: int | float
    local_epochs: int = Field(ge=1, le=1000)
    local_steps: int | None = Field(ge=1)
    batch_size: int = Field(ge=1, le=1_000_000)
    eval_every: int = Field(ge=1)
    aggregation: Literal["weighted", "uniform"]
    optimizer: OptimizerParams
    lr_schedule: LrScheduleParams
    grad_clip: float | None = Field(gt=0.0)
    engine: Literal["auto", "sequential", "vectorized"]

    @model_validator(mode="after")
    def _clients_per_round(self) -> FederationParams:
        value = self.clients_per_round
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise ValueError(
                f"clients_per_round={value}: a float is a fraction and must be in (0, 1]"
            )
        if isinstance(value, int) and value < 1:
            raise ValueError(f"clients_per_round={value}: a count must be >= 1")
        return self


class ModelsParams(Section):
    global_: str = Field(alias="global", min_length=1)
    local: str = Field(min_length=1)


class FmlParams(Section):
    alpha: float = Field(ge=0.0, le=1.0)
    beta: float = Field(ge=0.0, le=1.0)
    schedule: Literal["constant", "step", "linear"]
    alpha_target: float = Field(ge=0.0, le=1.0)
    beta_target: float = Field(ge=0.0, le=1.0)
    step_every: int = Field(ge=1)
    step_size: float = Field(ge=0.0, le=1.0)


class FedAvgParams(Section):
    finetune_epochs: int = Field(ge=0, le=100)


class FedProxParams(FedAvgParams):
    mu: float = Field(ge=0.0, le=1e4)


class LocalParams(Section):
    pass


class AlgorithmsParams(Section):
    fml: FmlParams | None = None
    fedavg: FedAvgParams | None = None
    fedprox: FedProxParams | None = None
    local: LocalParams | None = None


class TrackingParams(Section):
    enabled: bool
    uri: str | None
    experiment: str = Field(min_length=1)


class Params(Section):
    """The whole of ``params.yaml``."""

    base: BaseParams
    data: DataParams
    partition: PartitionParams
    federation: FederationParams
    models: ModelsParams
    algorithms: AlgorithmsParams
    tracking: TrackingParams
