"""The raw dataset every source returns, and the torchvision download they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fmlpipe.errors import DataError


@dataclass(frozen=True)
class RawDataset:
    """A labelled image dataset as its source holds it, before any subsetting.

    Images are uint8 ``[N, C, H, W]``; labels are int64 ``[N]`` in ``[0, len(class_names))``.
    ``source`` says where the files came from; ``files`` maps each raw file name to the
    sha256 of its bytes as stored.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    source: str
    files: dict[str, str]

    def __post_init__(self) -> None:
        splits = (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y))
        for split, x, y in splits:
            if x.dtype != torch.uint8 or x.ndim != 4 or len(x) == 0:
                raise DataError(
                    f"{self.source}: {split} images must be non-empty uint8 [N, C, H, W], "
                    f"got {x.dtype} {tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or tuple(y.shape) != (len(x),):
                raise DataError(
                    f"{self.source}: {split} labels must be int64 [{len(x)}], "
                    f"got {y.dtype} {tuple(y.shape)}"
                )
            if int(y.min()) < 0 or int(y.max()) >= len(self.class_names):
                raise DataError(
                    f"{self.source}: {split} labels outside [0, {len(self.class_names)}) "
                    f"(min {int(y.min())}, max {int(y.max())})"
                )
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(
                f"{self.source}: train images {tuple(self.train_x.shape[1:])} and "
                f"test images {tuple(self.test_x.shape[1:])} differ in shape"
            )


def torchvision_download(class_name: str, root: Path, title: str, fallback: str) -> None:
    """Let ``torchvision.datasets.<class_name>`` download into ``root``; failure is a DataError.

    ``fallback`` tells the user where to put the files by hand.
    """
    # Imported here, not at the top: every stage reads prepared data through this module, and
    # importing torchvision takes seconds that only a download needs.
    from torchvision import datasets

    try:
        getattr(datasets, class_name)(str(root), train=True, download=True)
    except Exception as exc:  # torchvision surfaces network trouble as URLError, OSError or RuntimeError
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise DataError(f"downloading {title} into {root} failed ({reason}): {fallback}") from None
