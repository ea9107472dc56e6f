"""The experimental setting a comparison came from, read from the data's own files and params.

Dataset and sizes come from ``data/prepared/card.json``, the partition from
``data/partition/stats.json`` (the params it was built with, and its label skew), the rest from
the ``federation``, ``models`` and ``algorithms`` sections, and the participants per round from
the runs' histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fmlpipe.config import Params
from fmlpipe.errors import DataError
from fmlpipe.evaluate.runs import RunRecord, json_number, read_json
from fmlpipe.fl.algorithms import configured
from fmlpipe.paths import Paths

INPUTS = {True: "standardized per channel by the training split's pixel mean and std", False: "pixel values in [0, 1]"}
PREPARE_HINT = "run `dvc repro` or `fmlpipe run-stage prepare`"
PARTITION_HINT = "run `dvc repro` or `fmlpipe run-stage partition`"

# The partition params that define each scheme (min_samples only guards against empty clients).
SCHEME_KEYS: dict[str, tuple[str, ...]] = {
    "iid": (),
    "dirichlet": ("alpha",),
    "shards": ("classes_per_client",),
    "quantity": ("quantity_distribution",),
}


@dataclass(frozen=True)
class Setting:
    """What was compared, on what data: one Markdown bullet per line of :meth:`lines`."""

    dataset: str
    train_count: int
    test_count: int
    seed: int
    scheme: str
    scheme_params: tuple[tuple[str, Any], ...]
    local_test_fraction: float
    emd_mean: float
    num_clients: int
    rounds: int
    participants: int
    params: Params
    test_sizes: tuple[int, ...] = ()  # each client's local test split

    def noise_note(self) -> str:
        """How coarse per-client figures are: a split of n images moves in steps of 100/n points."""
        if not self.test_sizes:
            return ""
        small, large = min(self.test_sizes), max(self.test_sizes)
        return (f"Local test splits hold {small}–{large} images, so one client's accuracy moves in steps of "
                f"{100 / max(small, 1):.1f} points on the smallest: worst-client and 10th-percentile figures "
                "are coarse.")

    def lines(self) -> list[str]:
        fed, models = self.params.federation, self.params.models
        scheme = ", ".join(f"{key} {value}" for key, value in self.scheme_params)
        work = (f"{fed.local_steps} local steps" if fed.local_steps is not None
                else f"{fed.local_epochs} local epoch{'s' if fed.local_epochs != 1 else ''}")
        return [
            f"data: {self.dataset}, {self.train_count} training images "
            f"({self.test_count} test images for the global model), seed {self.seed}",
            f"partition: {self.scheme}{f' ({scheme})' if scheme else ''}, {self.num_clients} clients, "
            f"local test fraction {self.local_test_fraction:g}, mean EMD to the global label mix "
            f"{self.emd_mean:.3f}",
            f"federation: {self.rounds} rounds, {self.participants} of {self.num_clients} clients per round "
            f"(clients_per_round {fed.clients_per_round}), {work}, batch size {fed.batch_size}, "
            f"{fed.aggregation} aggregation",
            f"optimizer: {_optimizer(self.params)}",
            f"inputs: {INPUTS[self.params.data.normalize]}",
            f"models: global {models.global_}, local {models.local}",
            *(f"{name}: {text}" for name, text in _algorithm_settings(self.params) if text),
        ]


def _optimizer(params: Params) -> str:
    opt, schedule = params.federation.optimizer, params.federation.lr_schedule
    text = f"{opt.name}, lr {opt.lr:g}"
    if opt.name == "sgd":
        text += f", momentum {opt.momentum:g}"
    text += f", weight decay {opt.weight_decay:g}, {schedule.name} lr schedule"
    if params.federation.grad_clip is not None:
        text += f", gradient clip {params.federation.grad_clip:g}"
    kept = ("kept across rounds by the models that stay on a client" if opt.state == "persistent"
            else "fresh every round for every model")
    return f"{text}; optimizer state {opt.state} ({kept})"


def _algorithm_settings(params: Params) -> list[tuple[str, str]]:
    """``(algorithm, "key value, ...")`` for each configured algorithm, as its params describe
    themselves (``Section.describe``)."""
    return [(name, section.describe()) for name, (_, section) in configured(params).items()]


def _scheme_params(partition: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    scheme = partition.get("scheme")
    keys = list(SCHEME_KEYS.get(str(scheme), ()))
    if scheme == "quantity":  # sizes from Dirichlet(alpha) or log-normal(sigma)
        keys.append("alpha" if partition.get("quantity_distribution") == "dirichlet" else "sigma")
    return tuple((key, partition.get(key)) for key in keys)


def load_setting(params: Params, paths: Paths, runs: tuple[RunRecord, ...]) -> Setting:
    """The setting of ``runs``: card and partition stats read and checked, then combined."""
    card_path, stats_path = paths.card_file, paths.partition_stats
    card = read_json(card_path, PREPARE_HINT)
    stats = read_json(stats_path, PARTITION_HINT)
    partition = stats.get("params")
    if not isinstance(partition, dict) or not isinstance(stats.get("scheme"), str):
        raise DataError(f"{stats_path}: no 'scheme' and 'params' of the partition: {PARTITION_HINT}")
    if not isinstance(card.get("dataset"), str):
        raise DataError(f"{card_path}: no 'dataset' name: {PREPARE_HINT}")
    num_clients = int(json_number(stats, "num_clients", stats_path, PARTITION_HINT))
    if num_clients != len(runs[0].final_clients):
        raise DataError(f"{stats_path} has {num_clients} clients, {paths.run_dir(runs[0].algorithm) / 'clients.csv'} "
                        f"{len(runs[0].final_clients)}: the runs are stale, run `dvc repro`")
    return Setting(
        dataset=card["dataset"],
        train_count=int(json_number(card, "train_count", card_path, PREPARE_HINT)),
        test_count=int(json_number(card, "test_count", card_path, PREPARE_HINT)),
        seed=int(json_number(stats, "seed", stats_path, PARTITION_HINT)),
        scheme=stats["scheme"],
        scheme_params=_scheme_params(partition),
        local_test_fraction=json_number(partition, "local_test_fraction", stats_path, PARTITION_HINT),
        emd_mean=json_number(stats, "emd_mean", stats_path, PARTITION_HINT),
        num_clients=num_clients,
        rounds=runs[0].rounds,
        participants=runs[0].history[-1].participants,
        params=params,
        test_sizes=tuple(int(n) for n in stats.get("test_sizes", [])),
    )
