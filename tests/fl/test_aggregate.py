from __future__ import annotations

import pytest
import torch

from fmlpipe.fl.aggregate import aggregation_weights, average_states


def test_weighted_average_is_exact() -> None:
    w0 = {"w": torch.tensor([1.0, 4.0]), "steps": torch.tensor(3)}
    w1 = {"w": torch.tensor([2.0, 1.0]), "steps": torch.tensor(9)}
    out = average_states([w0, w1], aggregation_weights([1, 2], "weighted"))
    expected = (torch.tensor([1.0, 4.0]) * 1 + torch.tensor([2.0, 1.0]) * 2) / 3
    assert torch.equal(out["w"], expected)
    assert out["steps"].item() == 3  # integer buffers: first client's, not averaged


def test_uniform_average_ignores_sample_counts() -> None:
    states = [{"w": torch.tensor([0.0])}, {"w": torch.tensor([3.0])}, {"w": torch.tensor([6.0])}]
    out = average_states(states, aggregation_weights([1, 100, 7], "uniform"))
    assert out["w"].item() == 3.0


def test_average_keeps_dtype_and_rejects_bad_weights() -> None:
    s = {"w": torch.tensor([1.0], dtype=torch.float32)}
    assert average_states([s, s], [1.0, 1.0])["w"].dtype == torch.float32
    with pytest.raises(ValueError):
        average_states([s, s], [0.0, 0.0])
    with pytest.raises(ValueError):
        average_states([s], [1.0, 2.0])
