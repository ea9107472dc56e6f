"""Mixed precision: bf16 training is deterministic, its losses stay fp32, and the precision
param is checked (a value not allowed; bf16 on hardware without native bf16)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fmlpipe.config import parse_params
from fmlpipe.errors import ParamsError
from fmlpipe.fl import precision
from fmlpipe.fl.precision import check_precision
from tests.fl.fakes import fake_data, federation, make_run, sgd


def _round(prec: str) -> tuple[list[Any], dict[int, dict[str, torch.Tensor]]]:
    # autocast runs on any CPU (emulated where it is not native): the path is tested everywhere
    run = make_run("fml", "cnn", federation(optimizer=sgd(), precision=prec), "sequential", fake_data())
    global_state = run.global_state()
    results = []
    for rnd in (1, 2):
        results = run.round([0, 1, 2, 3], global_state, rnd, 0.05)
        global_state = run.alg.server_update(global_state, results)
    return results, run.personal


def test_bf16_training_is_deterministic_and_differs_from_fp32() -> None:
    first, second, fp32 = _round("bf16"), _round("bf16"), _round("fp32")
    for a, b in zip(first[0], second[0], strict=True):
        assert a.losses == b.losses
        assert all(torch.equal(a.sent[k], b.sent[k]) for k in a.sent or {})
    for cid, state in first[1].items():
        assert all(torch.equal(t, second[1][cid][k]) for k, t in state.items())
    assert all(t.dtype == torch.float32 for t in first[1][0].values())  # master weights stay fp32
    assert first[0][0].losses != fp32[0][0].losses  # bf16 forward passes: other roundings


def test_precision_accepts_only_fp32_and_bf16(raw_params: dict[str, Any]) -> None:
    raw_params["federation"]["precision"] = "fp16"
    with pytest.raises(ParamsError, match=r"federation.precision='fp16': Input should be 'fp32' or 'bf16'"):
        parse_params(raw_params)


def test_bf16_is_refused_in_one_line_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
    with pytest.raises(ParamsError, match=r"^federation.precision='bf16' needs a CPU with native bf16 "
                                          r"\(AVX512-BF16 or AMX\) or a CUDA device; .*\(allowed here: fp32\)$"):
        check_precision("bf16", torch.device("cpu"))
    check_precision("fp32", torch.device("cpu"))  # fp32 always runs
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    check_precision("bf16", torch.device("cpu"))
