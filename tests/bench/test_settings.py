"""The benchmark's cases: which runs it makes and in what order."""

from __future__ import annotations

from fmlpipe.bench.settings import cases
from tests.conftest import REPO


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


def test_compilations_vary_the_vectorized_cases_alone_and_reach_their_params() -> None:
    found = cases(["A"], ["parallel", "vectorized"], rounds=2, data_fraction=1.0, precisions=("fp32", "bf16"),
                  compiles=("off", "on"))
    order = [(c.engine, c.compile, c.precision) for c in found]
    assert order == [("parallel", "off", "fp32"), ("parallel", "off", "bf16"),
                     ("vectorized", "off", "fp32"), ("vectorized", "off", "bf16"),
                     ("vectorized", "on", "fp32"), ("vectorized", "on", "bf16")]
    assert [c.params().federation.compile for c in found] == [c.compile for c in found]
    [default] = cases(["default"], ["vectorized"], rounds=2, data_fraction=1.0, compiles=("graphs",),
                      params_file=str(REPO / "params.yaml"))[:1]
    assert default.params().federation.compile == "graphs"
