from __future__ import annotations

import numpy as np
import pytest

from fmlpipe.partition.result import Partition
from fmlpipe.partition.stats import compute_stats, heatmap_title, render_heatmap

# Global counts [3, 2, 1] -> frequencies (1/2, 1/3, 1/6); sample 2 is held by no client.
LABELS = np.array([0, 0, 0, 1, 1, 2], dtype=np.int64)
PARTITION = Partition(
    train=(np.array([0, 1]), np.array([4])),
    test=(np.array([3]), np.array([5])),
    num_classes=3,
    scheme="shards",
)


def test_counts_emd_and_csv_hand_computed() -> None:
    stats = compute_stats(LABELS, PARTITION).to_dict()
    assert stats["train_counts"] == [[2, 0, 0], [0, 1, 0]]
    assert stats["test_counts"] == [[0, 1, 0], [0, 0, 1]]
    assert stats["train_sizes"] == [2, 1] and stats["test_sizes"] == [1, 1]
    assert stats["global_counts"] == [3, 2, 1]
    assert stats["unassigned_samples"] == 1
    # client 0 holds labels 0, 0, 1 -> (2/3, 1/3, 0): |2/3-1/2| + |1/3-1/3| + |0-1/6| = 1/3
    # client 1 holds labels 1, 2    -> (0, 1/2, 1/2): 1/2 + 1/6 + 1/3 = 1
    assert stats["emd"] == pytest.approx([1 / 3, 1.0], abs=1e-6)
    assert stats["emd_mean"] == pytest.approx(2 / 3, abs=1e-6)
    assert stats["emd_max"] == pytest.approx(1.0)
    assert compute_stats(LABELS, PARTITION).csv_text() == "client,train,test\n0,2,1\n1,1,1\n"


def test_heatmap_is_a_png() -> None:
    png = render_heatmap(compute_stats(LABELS, PARTITION))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_heatmap_shows_at_most_100_clients_and_says_so() -> None:
    labels = np.tile(np.arange(4, dtype=np.int64), 150)
    parts = tuple(np.array([i]) for i in range(150))
    many = Partition(parts[:120], parts[120:] + (np.empty(0, dtype=np.int64),) * 90, 4, "iid")
    stats = compute_stats(labels, many)
    assert "first 100 of 120 clients" in heatmap_title(stats)
    assert "first" not in heatmap_title(compute_stats(LABELS, PARTITION))
    assert render_heatmap(stats).startswith(b"\x89PNG")
