"""Deterministic mode: the settings every run starts with, without paying for inductor."""

from __future__ import annotations

import torch
import torch.utils.deterministic

from fmlpipe.fl.device import make_deterministic
from tests.conftest import imported_after


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


def test_inductor_is_left_unimported_until_a_step_is_compiled() -> None:
    # torch.use_deterministic_algorithms imports torch._inductor (3.8 s of every stage's start)
    # to set its config; an eager run never needs it, a compiled step gets the same setting
    setup = "from fmlpipe.fl.device import make_deterministic, before_compile\nmake_deterministic()"
    assert imported_after(setup, ("torch._inductor",)) == []
    compiled = f"{setup}\nbefore_compile()\nimport torch._inductor.config as c\n" \
               "assert getattr(c, 'deterministic', True) is True"
    assert imported_after(compiled, ("torch._inductor",)) == ["torch._inductor"]
