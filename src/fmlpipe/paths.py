"""Where each stage reads and writes, relative to the working directory of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """Output layout of one pipeline run; ``root`` is the folder holding its ``dvc.yaml``, or
    for one of the pipeline's variants, the folder ``<pipeline>/<variant>/``."""

    root: Path = Path(".")
    variant: str | None = None

    @classmethod
    def of(cls, params_file: Path, variant: str | None = None) -> Paths:
        """The layout for ``params_file``'s pipeline, or for one of its variants."""
        return cls(params_file.parent / variant, variant) if variant else cls(params_file.parent)

    @property
    def pipeline_root(self) -> Path:
        """The folder of the pipeline's ``dvc.yaml`` and ``params.yaml`` (``data.root`` is relative to it)."""
        return self.root.parent if self.variant else self.root

    @property
    def prepared_dir(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def dataset_file(self) -> Path:
        return self.prepared_dir / "dataset.safetensors"

    @property
    def card_file(self) -> Path:
        return self.prepared_dir / "card.json"

    @property
    def partition_dir(self) -> Path:
        return self.root / "data" / "partition"

    @property
    def partition_file(self) -> Path:
        return self.partition_dir / "partition.safetensors"

    @property
    def partition_stats(self) -> Path:
        return self.partition_dir / "stats.json"

    @property
    def partition_csv(self) -> Path:
        return self.partition_dir / "client_sizes.csv"

    @property
    def partition_heatmap(self) -> Path:
        return self.partition_dir / "heatmap.png"

    def run_dir(self, algorithm: str) -> Path:
        return self.root / "runs" / algorithm
