"""Which engine a run gets, and the refusal of what the vectorized engine cannot train."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fmlpipe.config import parse_params
from fmlpipe.data.store import load_prepared
from fmlpipe.errors import ParamsError
from fmlpipe.fl.algorithms import configured
from fmlpipe.fl.data import federated_data
from fmlpipe.fl.engines import COMPILE_MIN_ROUND_FLOPS, EngineChoice, choose_engine, round_train_flops
from fmlpipe.fl.engines.vectorized import Vectorized
from fmlpipe.fl.setup import build_run
from fmlpipe.models.registry import build_model
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from fmlpipe.train.stage import run_train
from tests.fl.conftest import small_params
from tests.fl.fakes import fake_data, federation, make_run

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
BIG = COMPILE_MIN_ROUND_FLOPS  # a round worth compiling for


def _models(*names: str) -> dict[str, tuple[str, torch.nn.Module]]:
    keys = ("models.global", "models.local")
    return {key: (name, build_model(name, (1, 28, 28), 10)) for key, name in zip(keys, names)}


def _choose(requested: str, names: tuple[str, ...], device: torch.device, flops: float = BIG, compile: str = "auto",
            **fed: Any) -> EngineChoice:
    alg = make_run("fml", "mlp", federation(**{"rounds": 20, "batch_size": 10, **fed}), "sequential", fake_data()).alg
    return choose_engine(requested, alg, _models(*names), device, flops, compile=compile)


def test_auto_on_cpu_trains_clients_in_parallel_when_there_are_cores() -> None:
    # fmlpipe bench on 2 cores: parallel beat sequential and vectorized at batch 10 and 64 (fl.engine).
    before = torch.get_num_threads()
    try:
        for threads, expected in ((2, "parallel"), (1, "sequential")):
            torch.set_num_threads(threads)
            for fed in ({}, {"batch_size": 64}, {"rounds": 1}):
                for flops in (BIG, BIG / 2):
                    assert _choose("auto", ("cnn", "cnn"), CPU, flops=flops, **fed) == EngineChoice(expected)
            assert _choose("auto", ("cnn", "resnet8"), CPU) == EngineChoice(expected)  # BatchNorm
    finally:
        torch.set_num_threads(before)


def test_auto_on_cuda_always_vectorizes_and_explicit_choices_hold() -> None:
    assert _choose("auto", ("mlp", "mlp"), CUDA, flops=1.0, batch_size=64) == EngineChoice("vectorized")
    assert _choose("vectorized", ("cnn",), CUDA) == EngineChoice("vectorized")  # never compiled on CUDA
    assert _choose("sequential", ("cnn", "cnn"), CUDA) == EngineChoice("sequential")
    assert _choose("vectorized", ("mlp",), CPU, flops=1.0) == EngineChoice("vectorized", "off")
    assert _choose("vectorized", ("mlp",), CPU, batch_size=64) == EngineChoice("vectorized", "on")


def test_compile_on_or_graphs_compiles_the_vectorized_step_and_off_never_does() -> None:
    for device in (CPU, CUDA):
        for requested in ("auto", "vectorized"):
            assert _choose(requested, ("mlp",), device, flops=1.0, compile="on") == EngineChoice("vectorized", "on")
            assert _choose(requested, ("cnn", "cnn"), device, compile="off") in (
                EngineChoice("vectorized", "off"), EngineChoice("parallel"), EngineChoice("sequential"))
        assert _choose("vectorized", ("mlp",), device, compile="off") == EngineChoice("vectorized", "off")
    assert _choose("auto", ("cnn", "cnn"), CUDA, compile="graphs") == EngineChoice("vectorized", "graphs")
    assert _choose("vectorized", ("cnn",), CUDA, compile="graphs").compiled
    assert not _choose("vectorized", ("mlp",), CPU, compile="off").compiled


@pytest.mark.parametrize(("requested", "names", "device", "compile", "message"), [
    ("parallel", ("cnn",), CPU, "on", "federation.compile='on' compiles the vectorized engine's step, and "
                                      r"federation.engine='parallel' runs eagerly \(allowed with it: auto, off\)"),
    ("sequential", ("cnn",), CUDA, "graphs", "federation.compile='graphs' compiles the vectorized engine's step, "
                                             "and federation.engine='sequential' runs eagerly"),
    ("auto", ("cnn", "resnet8"), CUDA, "on", r"federation.compile='on' needs the vectorized engine, which cannot "
                                             r"train models.local='resnet8': it has buffers \(BatchNorm"),
    ("vectorized", ("cnn",), CPU, "graphs", r"federation.compile='graphs' replays the step as CUDA graphs, and this "
                                            r"run is on cpu \(allowed here: auto, off, on\)"),
])
def test_a_compilation_that_cannot_be_had_is_refused_in_one_line(requested: str, names: tuple[str, ...],
                                                                  device: torch.device, compile: str,
                                                                  message: str) -> None:
    with pytest.raises(ParamsError, match=f"^{message}"):
        _choose(requested, names, device, compile=compile)


def test_compile_is_validated_and_reaches_the_engine(raw_params: dict[str, Any], project: Paths) -> None:
    raw_params["federation"]["compile"] = "max"
    with pytest.raises(ParamsError, match=r"federation.compile='max': Input should be 'auto', 'off', 'on' or "
                                          r"'graphs'"):
        parse_params(raw_params)
    params = small_params(engine="auto", compile="on")
    data = federated_data(load_prepared(project), Partition.load(project.partition_file), torch.device("cpu"),
                          params.data.normalize)
    cls, section = configured(params)["fml"]
    run = build_run(params, data, torch.device("cpu"), cls, section)
    assert run.engine == EngineChoice("vectorized", "on")
    assert isinstance(run.backend.engine, Vectorized) and run.backend.engine.compile == "on"


def test_batchnorm_models_fall_back_under_auto_and_are_refused_when_asked() -> None:
    assert _choose("auto", ("cnn", "resnet8"), CUDA) == EngineChoice("sequential")
    with pytest.raises(ParamsError, match=r"federation.engine='vectorized' cannot train models.local='resnet8': "
                                          r"it has buffers \(BatchNorm"):
        _choose("vectorized", ("cnn", "resnet8"), CPU)


def test_train_stage_refuses_vectorized_resnet8_before_writing(project: Paths) -> None:
    params = small_params(engine="vectorized")
    params = params.model_copy(update={"models": params.models.model_copy(update={"global_": "resnet8"})})
    with pytest.raises(ParamsError, match="federation.engine='vectorized' cannot train models.global='resnet8'"):
        run_train(params, project, "fedavg")
    assert not (project.root / "runs").exists()


def test_round_flops_count_participants_samples_and_three_passes_per_model() -> None:
    data = fake_data()  # 126 training samples over 4 clients
    module = build_model("mlp", (1, 16, 16), 3)
    per_sample = 2 * (256 * 200 + 200 * 200 + 200 * 3)
    assert round_train_flops(data, federation(clients_per_round=0.5, local_epochs=2), [module, module]) == \
        2 * (126 / 4) * 2 * 3 * 2 * per_sample
    assert round_train_flops(data, federation(local_steps=5), [module]) == 4 * 5 * 8 * 3 * per_sample
