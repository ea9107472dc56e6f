"""What a partition looks like: per-client class counts, sizes, label skew, CSV and heatmap.

Label skew is the earth mover's distance between a client's class frequencies and the global
ones with unit ground distance between classes, which equals their L1 distance (twice the total
variation), as Zhao et al. (2018) use: 0 for a client with the global mix, 2 at most.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fmlpipe.partition.result import Partition

HEATMAP_MAX_CLIENTS = 100


@dataclass(frozen=True, eq=False)
class PartitionStats:
    """Counts ``[clients, classes]`` of each split, global counts ``[classes]``, EMD ``[clients]``."""

    scheme: str
    train_counts: np.ndarray
    test_counts: np.ndarray
    global_counts: np.ndarray
    emd: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (plain ints and floats)."""
        train, test = self.train_counts.sum(axis=1), self.test_counts.sum(axis=1)
        return {
            "scheme": self.scheme,
            "num_clients": int(self.train_counts.shape[0]),
            "num_classes": int(self.train_counts.shape[1]),
            "num_samples": int(self.global_counts.sum()),
            "unassigned_samples": int(self.global_counts.sum() - train.sum() - test.sum()),
            "train_sizes": train.tolist(),
            "test_sizes": test.tolist(),
            "train_counts": self.train_counts.tolist(),
            "test_counts": self.test_counts.tolist(),
            "global_counts": self.global_counts.tolist(),
            "emd": [round(float(x), 6) for x in self.emd],
            "emd_mean": round(self.emd_mean, 6),
            "emd_max": round(self.emd_max, 6),
        }

    @property
    def emd_mean(self) -> float:
        return float(self.emd.mean()) if self.emd.size else 0.0

    @property
    def emd_max(self) -> float:
        return float(self.emd.max()) if self.emd.size else 0.0

    def csv_text(self) -> str:
        """``client,train,test``: one row per client (a bar chart under ``dvc plots``)."""
        rows = zip(self.train_counts.sum(axis=1), self.test_counts.sum(axis=1), strict=True)
        return "client,train,test\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in enumerate(rows))


def class_counts(labels: np.ndarray, parts: tuple[np.ndarray, ...], num_classes: int) -> np.ndarray:
    """``[len(parts), num_classes]`` int64: how many samples of each class each part holds."""
    sizes = np.array([p.size for p in parts], dtype=np.int64)
    client = np.repeat(np.arange(len(parts)), sizes)
    index = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    flat = np.bincount(client * num_classes + labels[index], minlength=len(parts) * num_classes)
    return flat.reshape(len(parts), num_classes)


def emd_to_global(client_counts: np.ndarray, global_counts: np.ndarray) -> np.ndarray:
    """Per-row L1 distance between class frequencies and the global ones (EMD, unit ground distance)."""
    counts = np.asarray(client_counts, dtype=np.float64)
    # An empty client divides by 1: its all-zero vector sits at distance 1 from any distribution.
    freq = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    ref = np.asarray(global_counts, dtype=np.float64)
    distance: np.ndarray = np.abs(freq - ref / ref.sum()).sum(axis=1)
    return distance


def compute_stats(labels: np.ndarray, partition: Partition) -> PartitionStats:
    """Stats of ``partition`` over the training ``labels`` it indexes; EMD uses train + test."""
    train = class_counts(labels, partition.train, partition.num_classes)
    test = class_counts(labels, partition.test, partition.num_classes)
    global_counts = np.bincount(labels, minlength=partition.num_classes)
    emd = emd_to_global(train + test, global_counts)
    return PartitionStats(partition.scheme, train, test, global_counts, emd)


def render_heatmap(stats: PartitionStats) -> bytes:
    """PNG bytes of a clients x classes heatmap of training counts (the first 100 clients)."""
    counts = stats.train_counts[:HEATMAP_MAX_CLIENTS]
    shown, classes = counts.shape
    fig = Figure(figsize=(min(4.0 + 0.35 * classes, 16.0), min(2.5 + 0.16 * shown, 18.0)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(counts, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="training samples")
    # Thin the tick labels so they stay legible for up to 100 clients and 100 classes.
    ax.set_yticks(np.arange(0, shown, max(1, shown // 25)))
    ax.set_xticks(np.arange(0, classes, max(1, classes // 25)))
    ax.set_xlabel("class")
    ax.set_ylabel("client")
    if shown * classes <= 200:  # small grids: print the counts; dark text on the bright cells
        bright = counts.max() / 2
        for (row, col), value in np.ndenumerate(counts):
            color = "black" if value > bright else "white"
            ax.text(col, row, str(value), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(heatmap_title(stats))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def heatmap_title(stats: PartitionStats) -> str:
    """Scheme and label skew, plus a note when only the first clients are drawn."""
    title = f"{stats.scheme}: EMD to global mean {stats.emd_mean:.3f}, max {stats.emd_max:.3f}"
    total = stats.train_counts.shape[0]
    if total > HEATMAP_MAX_CLIENTS:
        title += f"\n(first {HEATMAP_MAX_CLIENTS} of {total} clients shown)"
    return title
