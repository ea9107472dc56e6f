"""Deterministic mode: the settings every run starts with."""

from __future__ import annotations

import torch
import torch.utils.deterministic

from fmlpipe.fl.device import make_deterministic


def test_deterministic_without_filling_new_memory() -> None:
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.utils.deterministic.fill_uninitialized_memory)
    try:
        make_deterministic()
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        # the NaN fill of every new tensor is off: it cost 10% of a batch-64 FML round
        assert torch.utils.deterministic.fill_uninitialized_memory is False
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.utils.deterministic.fill_uninitialized_memory = before[2]
