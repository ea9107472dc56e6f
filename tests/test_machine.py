"""The machine record that runs and benchmarks carry, on a made-up /proc/cpuinfo."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fmlpipe import machine
from fmlpipe.fl import precision


def test_the_machine_record_names_the_cpu_and_the_flags_that_pick_kernels(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu sse avx2 avx512f amx_bf16 "
                       "amx_tile\n\nprocessor\t: 1\nmodel name\t: Example CPU 9000\nflags\t\t: fpu\n")
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    record = machine.describe()
    assert (record["cpu_model"], record["cpu_flags"]) == ("Example CPU 9000", ["avx2", "avx512f", "amx_bf16"])
    assert (record["torch"], record["threads"]) == (torch.__version__, torch.get_num_threads())
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "absent")  # not Linux: recorded as unknown
    record = machine.describe()
    assert (record["cpu_model"], record["cpu_flags"]) == ("", [])
