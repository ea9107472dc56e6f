"""The benchmark's cases: which runs it makes and in what order."""

from __future__ import annotations

from fmlpipe.bench.settings import cases


def test_each_cases_precisions_and_backends_run_back_to_back() -> None:
    found = cases(["B", "A"], ["parallel"], rounds=2, data_fraction=1.0, precisions=("fp32", "bf16"),
                  backends=("local", "ray"), workers=2)
    order = [(c.setting, c.backend, c.precision) for c in found]
    assert order == [("B", "local", "fp32"), ("B", "local", "bf16"), ("B", "ray", "fp32"), ("B", "ray", "bf16"),
                     ("A", "local", "fp32"), ("A", "local", "bf16"), ("A", "ray", "fp32"), ("A", "ray", "bf16")]
    assert [c.workers for c in found] == [1, 1, 2, 2, 1, 1, 2, 2]


def test_repeats_run_a_cases_variants_in_turns() -> None:
    found = cases(["B", "A"], ["parallel"], rounds=2, data_fraction=1.0, precisions=("fp32", "bf16"), repeats=2)
    order = [(c.setting, c.repeat, c.precision) for c in found]
    assert order == [("B", 0, "fp32"), ("B", 0, "bf16"), ("B", 1, "fp32"), ("B", 1, "bf16"),
                     ("A", 0, "fp32"), ("A", 0, "bf16"), ("A", 1, "fp32"), ("A", 1, "bf16")]
