"""Client data as tensors on the simulation device: one float copy of the dataset, and per
client an index tensor into it (no per-sample Dataset or DataLoader in the hot loop)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fmlpipe.data.store import PreparedDataset
from fmlpipe.errors import DataError
from fmlpipe.partition.result import Partition


@dataclass(frozen=True)
class ClientSplit:
    """One client's training and local test indices into :attr:`FederatedData.train_x`."""

    train: torch.Tensor  # int64 [n_train]
    test: torch.Tensor  # int64 [n_test]

    @property
    def num_train(self) -> int:
        return int(self.train.numel())


@dataclass(frozen=True)
class FederatedData:
    train_x: torch.Tensor  # float32 [N, C, H, W] in [0, 1], or standardized (``normalization``)
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor  # float32 [M, C, H, W]: the global test set
    test_y: torch.Tensor  # int64 [M]
    clients: tuple[ClientSplit, ...]
    input_shape: tuple[int, int, int]
    num_classes: int
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # (mean, std) per channel


    @property
    def num_clients(self) -> int:
        return len(self.clients)


def _to_float(images: torch.Tensor, device: torch.device,
              normalization: tuple[tuple[float, ...], tuple[float, ...]] | None) -> torch.Tensor:
    # Converted once: per-batch uint8 -> float conversion would repeat the work every epoch.
    x = images.to(device=device, dtype=torch.float32).div_(255.0)
    if normalization is not None:
        mean, std = (torch.tensor(v, dtype=torch.float32, device=device).view(1, -1, 1, 1) for v in normalization)
        x.sub_(mean).div_(std)
    return x


def federated_data(prepared: PreparedDataset, partition: Partition, device: torch.device,
                   normalize: bool = False) -> FederatedData:
    """Place the prepared dataset on ``device`` and attach each client's indices; with
    ``normalize``, inputs are standardized per channel by the training split's pixel mean and
    std that ``prepare`` recorded."""
    normalization = None
    if normalize:
        if "pixel_mean" not in prepared.card:
            raise DataError("data.normalize: data/prepared/card.json records no pixel_mean/pixel_std (prepared by "
                            "an older fmlpipe): run `fmlpipe run-stage prepare` (or `dvc repro`)")
        normalization = (tuple(prepared.card["pixel_mean"]), tuple(prepared.card["pixel_std"]))
    clients = tuple(
        ClientSplit(
            train=torch.tensor(train, dtype=torch.int64, device=device),
            test=torch.tensor(test, dtype=torch.int64, device=device),
        )
        for train, test in zip(partition.train, partition.test)
    )
    return FederatedData(
        train_x=_to_float(prepared.train_x, device, normalization),
        train_y=prepared.train_y.to(device),
        test_x=_to_float(prepared.test_x, device, normalization),
        test_y=prepared.test_y.to(device),
        clients=clients,
        input_shape=prepared.input_shape,
        num_classes=prepared.num_classes,
        normalization=normalization,
    )
