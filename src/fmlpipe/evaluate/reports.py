"""Where the ``evaluate`` stage writes: ``reports/`` beside the pipeline's ``dvc.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportPaths:
    """The comparison report's files; ``root`` is the folder holding the pipeline's ``dvc.yaml``."""

    root: Path = Path(".")

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def metrics(self) -> Path:
        return self.reports_dir / "metrics.json"

    @property
    def comparison(self) -> Path:
        return self.reports_dir / "comparison.md"

    @property
    def accuracy_by_round_csv(self) -> Path:
        return self.reports_dir / "accuracy_by_round.csv"

    @property
    def client_accuracy_csv(self) -> Path:
        return self.reports_dir / "client_accuracy.csv"

    @property
    def accuracy_by_round_png(self) -> Path:
        return self.reports_dir / "accuracy_by_round.png"

    @property
    def client_accuracy_png(self) -> Path:
        return self.reports_dir / "client_accuracy.png"
