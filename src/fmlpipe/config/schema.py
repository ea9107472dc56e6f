"""The typed, frozen shape of ``params.yaml``: one class per section.

Every key is required so that a params file states the whole experiment; unknown keys are
refused (a typo must not silently fall back to a default). Values are checked strictly: a
string is never coerced into a number, nor a number into a bool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DATASETS = ("fashion_mnist", "mnist", "cifar10", "cifar100")
SCHEMES = ("iid", "dirichlet", "shards", "quantity")


class Section(BaseModel):
    """Base of every params section: immutable, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def describe(self) -> str:
        """``key value, ...`` of every key, for a report's description of the setting."""
        return ", ".join(f"{key} {value}" for key, value in self.model_dump().items())


class BaseParams(Section):
    seed: int = Field(ge=0, le=2**32 - 1)
    device: Literal["auto", "cpu", "cuda"]


class DataParams(Section):
    dataset: Literal["fashion_mnist", "mnist", "cifar10", "cifar100"]
    root: str = Field(min_length=1)
    download: bool
    train_fraction: float = Field(gt=0.0, le=1.0)
    per_class_cap: int | None = Field(ge=1)
    # Inputs as (x - mean) / std per channel, the mean and std of the dataset's whole training
    # split (recorded by ``prepare``); False: pixel values in [0, 1].
    normalize: bool


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
    # persistent: a model that stays on its client keeps its optimizer state across rounds;
    # per_round: every model starts each round with a fresh optimizer.
    state: Literal["persistent", "per_round"]


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
    engine: Literal["auto", "sequential", "parallel", "vectorized"]
    precision: Literal["fp32", "bf16"]  # bf16: autocast forward passes where the hardware has native bf16
    # torch.compile the vectorized engine's step: auto (fmlpipe.fl.engines.choose_engine) | off | on | graphs
    # (on, replayed as CUDA graphs)
    compile: Literal["auto", "off", "on", "graphs"]

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
    """The shared architecture and each client's personalized one (model heterogeneity):
    ``local`` for every client, unless ``local_cycle`` is non-empty (client i gets
    ``local_cycle[i % len]``); ``local_overrides`` (client id -> architecture) wins over both."""

    global_: str = Field(alias="global", min_length=1)
    local: str = Field(min_length=1)
    local_cycle: list[str]
    local_overrides: dict[int, str]

    def local_for(self, cid: int) -> str:
        """Client ``cid``'s personalized architecture."""
        if cid in self.local_overrides:
            return self.local_overrides[cid]
        return self.local_cycle[cid % len(self.local_cycle)] if self.local_cycle else self.local

    @property
    def heterogeneous(self) -> bool:
        """True when not every client has the same personalized architecture."""
        return len(self.local_names) > 1

    @property
    def local_names(self) -> list[str]:
        """Every personalized architecture the clients may use, sorted."""
        base = set(self.local_cycle) if self.local_cycle else {self.local}
        return sorted(base | set(self.local_overrides.values()))


FULL_TASK = "full"  # the dataset's own labels


class TasksParams(Section):
    """Objective heterogeneity: clients that learn different tasks on the same inputs.

    ``label_maps``: task name -> one label per dataset class (e.g. Fashion-MNIST's 10 classes
    onto tops / shoes / bags / other); the task ``full`` is the dataset's own labels. A client's
    task is ``cycle[i % len]`` when ``cycle`` is non-empty, else ``full``; ``overrides`` (client
    id -> task) wins over both."""

    label_maps: dict[str, list[int]]
    cycle: list[str]
    overrides: dict[int, str]

    @model_validator(mode="after")
    def _known_tasks(self) -> TasksParams:
        if FULL_TASK in self.label_maps:
            raise ValueError(f"label_maps cannot define '{FULL_TASK}': it is the dataset's own labels")
        known = {FULL_TASK, *self.label_maps}
        for where, names in (("cycle", self.cycle), ("overrides", list(self.overrides.values()))):
            bad = [n for n in names if n not in known]
            if bad:
                raise ValueError(f"task {bad[0]!r} in {where} is not defined (allowed: {', '.join(sorted(known))})")
        for name, labels in self.label_maps.items():
            if not labels or sorted(set(labels)) != list(range(max(labels) + 1)):
                raise ValueError(f"label_maps.{name}={labels}: task labels must be 0..k-1, each used at least once")
        return self

    def task_for(self, cid: int) -> str:
        """Client ``cid``'s task name."""
        if cid in self.overrides:
            return self.overrides[cid]
        return self.cycle[cid % len(self.cycle)] if self.cycle else FULL_TASK

    @property
    def heterogeneous(self) -> bool:
        """True when some client may learn a task other than ``full``."""
        return any(t != FULL_TASK for t in (*self.cycle, *self.overrides.values()))


class ConvergenceParams(Section):
    """When a run counts as converged: in every stretch of rounds at one learning rate (before
    each lr decay, and at the end), a line fitted to the mean train loss of its last ``window``
    rounds falls by at most ``tolerance`` × the loss's fall from its highest value so far
    (``stats.convergence``).
    The evaluate stage judges it from ``rounds.csv``: changing it never re-runs training."""

    window: int = Field(ge=2, le=1000)
    tolerance: float = Field(gt=0.0, lt=1.0)


class ExecutionParams(Section):
    """Where a train stage runs its clients: in this process (``local``: ``federation.engine``
    picks how), or on Ray worker actors that each own a fixed shard of clients (``ray``). Only
    speed and memory depend on it: the numbers are the same either way."""

    backend: Literal["local", "ray"]
    address: str | None = Field(min_length=1)  # ray: a running cluster's "host:port"; null: start a local one
    workers: int = Field(ge=1, le=10_000)  # ray: worker actors (client c is owned by worker c % workers)
    cpus_per_worker: int = Field(ge=1, le=1024)  # ray: CPUs each worker reserves, and its torch threads
    gpus_per_worker: float = Field(ge=0.0, le=64.0)  # ray: GPUs each worker reserves (fractions allowed)
    # A train stage checkpoints (and logs the rounds since to MLflow) after a round once this many
    # seconds have passed since its last checkpoint, and after the last round; 0: every round.
    # A killed stage loses at most this much training, redone bit for bit when it resumes.
    checkpoint_seconds: float = Field(ge=0.0, le=86_400.0)


class TrackingParams(Section):
    enabled: bool
    uri: str | None
    experiment: str = Field(min_length=1)


class Params(Section):
    """The whole of ``params.yaml``. ``variants``: named experiments of a pipeline, each a
    mapping of dotted keys to values that replace those of the sections above (applied by
    ``config.variants``, then validated like the rest)."""

    base: BaseParams
    data: DataParams
    partition: PartitionParams
    federation: FederationParams
    models: ModelsParams
    tasks: TasksParams
    convergence: ConvergenceParams
    execution: ExecutionParams
    algorithms: dict[str, dict[str, Any]]  # name -> section, typed by the algorithm (fl.algorithms.configured)
    tracking: TrackingParams
    variants: dict[str, dict[str, Any]]
