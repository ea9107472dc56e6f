from __future__ import annotations

import numpy as np
import pytest

from fmlpipe.config.schema import SCHEMES as SCHEMA_SCHEMES
from fmlpipe.errors import ParamsError
from fmlpipe.partition.registry import SCHEMES, assign_clients
from fmlpipe.partition.shards import deal_classes
from fmlpipe.partition.stats import class_counts, emd_to_global
from tests.partition.conftest import MakeParams, balanced

LABELS = balanced(num_classes=5, per_class=24)  # N = 120


def _run(
    make_p: MakeParams, labels: np.ndarray = LABELS, seed: int = 0, **changes: object
) -> list[np.ndarray]:
    changes = {"num_clients": 6, "min_samples": 2, "classes_per_client": 2, **changes}
    num_classes = int(labels.max()) + 1
    return assign_clients(labels, num_classes, make_p(**changes), np.random.default_rng(seed))


def test_registry_matches_the_params_schema() -> None:
    assert tuple(SCHEMES) == SCHEMA_SCHEMES


@pytest.mark.parametrize("scheme", SCHEMA_SCHEMES)
def test_every_index_used_exactly_once_and_sorted(make_p: MakeParams, scheme: str) -> None:
    clients = _run(make_p, scheme=scheme)
    assert len(clients) == 6
    everything = np.concatenate(clients)
    assert np.array_equal(np.sort(everything), np.arange(LABELS.size))
    for c in clients:
        assert c.dtype == np.int64
        assert np.array_equal(c, np.sort(c))


@pytest.mark.parametrize("scheme", SCHEMA_SCHEMES)
def test_same_seed_same_arrays_other_seed_different(make_p: MakeParams, scheme: str) -> None:
    first, again, other = (_run(make_p, scheme=scheme, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("scheme", SCHEMA_SCHEMES)
def test_min_samples_holds(make_p: MakeParams, scheme: str) -> None:
    clients = _run(make_p, scheme=scheme, min_samples=10, alpha=0.5)
    assert min(c.size for c in clients) >= 10


@pytest.mark.parametrize("scheme", SCHEMA_SCHEMES)
def test_more_clients_than_samples_allow_is_refused(make_p: MakeParams, scheme: str) -> None:
    with pytest.raises(ParamsError) as err:
        _run(make_p, scheme=scheme, num_clients=7, min_samples=18)  # 126 > 120
    message = str(err.value)
    assert "partition.num_clients=7" in message
    assert "partition.min_samples=18" in message
    assert "120 training samples (N)" in message


def test_iid_sizes_and_class_counts_within_one(make_p: MakeParams) -> None:
    labels = balanced(num_classes=4, per_class=10)  # 40 samples, 10 per class
    clients = _run(make_p, labels, scheme="iid", num_clients=3)
    assert sorted(c.size for c in clients) == [13, 13, 14]
    counts = class_counts(labels, tuple(clients), 4)
    assert np.all(np.abs(counts - 10 / 3) < 1)


def test_shards_gives_exactly_k_classes_each_class_evenly_used(make_p: MakeParams) -> None:
    labels = balanced(num_classes=5, per_class=24)
    for k in (1, 2, 3, 5):
        clients = _run(make_p, labels, scheme="shards", num_clients=6, classes_per_client=k)
        counts = class_counts(labels, tuple(clients), 5)
        assert ((counts > 0).sum(axis=1) == k).all()
        holders = (counts > 0).sum(axis=0)  # 6 * k slots over 5 classes
        assert holders.sum() == 6 * k and holders.max() - holders.min() <= 1
        # each class is split evenly among its holders
        for c in range(5):
            shares = counts[counts[:, c] > 0, c]
            assert shares.sum() == 24 and shares.max() - shares.min() <= 1


def test_shards_with_too_few_slots_leaves_classes_unused(make_p: MakeParams) -> None:
    clients = _run(make_p, scheme="shards", num_clients=2, classes_per_client=2)
    counts = class_counts(LABELS, tuple(clients), 5)
    assert ((counts > 0).sum(axis=1) == 2).all()
    assert (counts.sum(axis=0) > 0).sum() == 4  # 2 clients x 2 classes cover 4 of 5 classes
    assert sum(c.size for c in clients) == 4 * 24


def test_shards_more_classes_per_client_than_classes_is_refused(make_p: MakeParams) -> None:
    with pytest.raises(ParamsError, match=r"partition.classes_per_client=6 .* 5 classes"):
        _run(make_p, scheme="shards", classes_per_client=6)


def test_dirichlet_huge_alpha_approaches_iid(make_p: MakeParams) -> None:
    labels = balanced(num_classes=10, per_class=200)
    clients = _run(make_p, labels, scheme="dirichlet", alpha=1e5, num_clients=10)
    emd = emd_to_global(class_counts(labels, tuple(clients), 10), np.bincount(labels))
    assert emd.max() < 0.1


def test_dirichlet_tiny_alpha_concentrates(make_p: MakeParams) -> None:
    labels = balanced(num_classes=10, per_class=100)
    clients = _run(make_p, labels, scheme="dirichlet", alpha=0.01, num_clients=10)
    counts = class_counts(labels, tuple(clients), 10)
    dominated = counts.max(axis=1) / counts.sum(axis=1) > 0.5
    assert dominated.sum() >= 8
    assert emd_to_global(counts, np.bincount(labels)).mean() > 1.2


def test_dirichlet_unreachable_min_samples_names_the_keys(make_p: MakeParams) -> None:
    labels = balanced(num_classes=2, per_class=50)  # two classes cannot feed ten clients at alpha 0.01
    with pytest.raises(ParamsError) as err:
        _run(make_p, labels, scheme="dirichlet", alpha=0.01, num_clients=10, min_samples=9)
    message = str(err.value)
    for key in ("partition.min_samples=9", "partition.alpha=0.01", "partition.num_clients=10"):
        assert key in message
    assert "raise partition.alpha" in message


@pytest.mark.parametrize("distribution", ["dirichlet", "lognormal"])
def test_quantity_sizes_skewed_floor_respected_sum_exact(make_p: MakeParams, distribution: str) -> None:
    changes = {"quantity_distribution": distribution, "alpha": 0.5, "sigma": 1.5, "min_samples": 5}
    clients = _run(make_p, scheme="quantity", **changes)
    sizes = np.array([c.size for c in clients])
    assert sizes.sum() == LABELS.size
    assert sizes.min() >= 5
    assert sizes.max() - sizes.min() > 5  # skewed, not an even split


@pytest.mark.parametrize(
    ("classes", "clients", "k"), [(10, 50, 2), (10, 7, 3), (5, 9, 4), (3, 11, 3), (7, 13, 6)]
)
def test_deal_classes_distinct_balanced_and_varied(classes: int, clients: int, k: int) -> None:
    held = deal_classes(np.arange(classes), clients, k, np.random.default_rng(0))
    assert held.shape == (clients, k)
    assert all(len(set(row)) == k for row in held.tolist())
    uses = np.bincount(held.ravel(), minlength=classes)
    assert uses.max() - uses.min() <= 1
    if (classes, k) == (10, 2):
        # a single fixed permutation would repeat only 5 distinct pairs
        assert len({frozenset(row) for row in held.tolist()}) > 5
