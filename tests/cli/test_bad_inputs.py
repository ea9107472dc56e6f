"""The catalogue of bad inputs: each gets one line naming the problem, the right exit code
(2: usage and params, 1: data and runtime), no traceback, and no partial outputs."""

from __future__ import annotations

import gzip
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fmlpipe.cli import app
from tests.conftest import write_project as _project

runner = CliRunner()


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _fails(root: Path, args: list[str], code: int, expected: str) -> str:
    before = _listing(root)
    result = runner.invoke(app, [*args, "--params", str(root / "params.yaml")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == code, result.output
    # The error is one line, and the last; a progress bar or library log may precede it.
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    assert expected in errors[0], errors[0]
    if code == 2:
        assert lines == errors  # refused before any work: nothing but the error
        assert _listing(root) == before  # params are checked before anything is written
    return errors[0]


PARAMS_CASES = [
    ({"base.seed": "x"}, "base.seed='x': Input should be a valid integer"),
    ({"base.seed": -3}, "base.seed=-3: Input should be greater than or equal to 0"),
    ({"base.device": "gpu"}, "base.device='gpu': Input should be 'auto', 'cpu' or 'cuda'"),
    ({"data.dataset": "imagenet"}, "data.dataset='imagenet'"),
    ({"data.train_fraction": 1.5}, "data.train_fraction=1.5: Input should be less than or equal to 1"),
    ({"data.per_class_cap": 0}, "data.per_class_cap=0: Input should be greater than or equal to 1"),
    ({"data.download": "yes"}, "data.download='yes': Input should be a valid boolean"),
    ({"partition.num_clients": 0}, "partition.num_clients=0"),
    ({"partition.alpha": 0}, "partition.alpha=0: Input should be greater than 0"),
    ({"partition.alpha": -1.0}, "partition.alpha=-1.0: Input should be greater than 0"),
    ({"partition.scheme": "pathological"}, "partition.scheme='pathological'"),
    ({"partition.local_test_fraction": 0.0}, "partition.local_test_fraction=0.0: Input should be greater than 0"),
    ({"partition.min_samples": 1}, "partition.min_samples=1: Input should be greater than or equal to 2"),
    ({"federation.rounds": 0}, "federation.rounds=0"),
    ({"federation.batch_size": 0}, "federation.batch_size=0"),
    ({"federation.clients_per_round": 2.0}, "clients_per_round=2.0: a float is a fraction and must be in (0, 1]"),
    ({"federation.optimizer.name": "rmsprop"}, "federation.optimizer.name='rmsprop'"),
    ({"federation.optimizer.momentum": 1.0}, "federation.optimizer.momentum=1.0: Input should be less than 1"),
    ({"federation.lr_schedule.gamma": 2.0}, "federation.lr_schedule.gamma=2.0"),
    ({"federation.grad_clip": -1.0}, "federation.grad_clip=-1.0: Input should be greater than 0"),
    ({"models.global": 5}, "models.global=5: Input should be a valid string"),
    ({"algorithms.fml.beta": "high"}, "algorithms.fml.beta='high': Input should be a valid number"),
    ({"algorithms.fedprox.mu": -0.1}, "algorithms.fedprox.mu=-0.1"),
    ({"tracking.enabled": "yes"}, "tracking.enabled='yes': Input should be a valid boolean"),
    ({"partition.alpah": 0.3}, "unknown key 'partition.alpah' (allowed here: scheme, num_clients, alpha,"),
    ({"train": {"epochs": 3}}, "unknown key 'train' (allowed here: base, data, partition, federation,"),
]


@pytest.mark.parametrize(("edit", "expected"), PARAMS_CASES,
                         ids=[next(iter(c[0])) + "=" + repr(next(iter(c[0].values()))) for c in PARAMS_CASES])
def test_bad_params_value(tmp_path: Path, edit: dict[str, Any], expected: str) -> None:
    # An algorithm's section is checked by the stages that read it (train, evaluate, summarize),
    # each before any work: the data stages do not depend on it, in DVC or in their code.
    stage = ["train", "--algorithm", "fml"] if next(iter(edit)).startswith("algorithms.") else ["partition"]
    _fails(_project(tmp_path, None, edit), ["run-stage", *stage], 2, expected)


def test_missing_section(tmp_path: Path) -> None:
    _fails(_project(tmp_path, None, drop=("models",)), ["run-stage", "prepare"], 2, "missing key 'models'")


def test_malformed_and_empty_yaml(tmp_path: Path) -> None:
    root = _project(tmp_path, None)
    (root / "params.yaml").write_text("base: {seed: 0\n")
    _fails(root, ["run-stage", "prepare"], 2, "not valid YAML at line")
    (root / "params.yaml").write_text("")
    _fails(root, ["run-stage", "prepare"], 2, "expected a mapping of sections at the top level, got NoneType")


def test_missing_params_file(tmp_path: Path) -> None:
    _fails(tmp_path, ["run-stage", "prepare"], 2, "params file")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"partition.scheme": "shards", "partition.classes_per_client": 11}, "partition.classes_per_client=11"),
        ({"partition.num_clients": 5000}, "partition.num_clients=5000 x partition.min_samples=20"),
        ({"partition.min_samples": 5000}, "partition.min_samples=5000"),
    ],
)
def test_impossible_partitions(tmp_path: Path, small_data: Path, edit: dict[str, Any], expected: str) -> None:
    root = _project(tmp_path, small_data, edit)
    shutil.rmtree(root / "data" / "partition")
    _fails(root, ["run-stage", "partition"], 2, expected)


@pytest.mark.parametrize(
    ("edit", "args", "expected"),
    [
        ({"models.global": "vgg"}, ["--algorithm", "fedavg"], "models.global='vgg' is not a known model (allowed: cnn"),
        ({"models.local": "resnet50"}, ["--algorithm", "local"], "models.local='resnet50' is not a known model"),
        ({}, ["--algorithm", "fedsgd"], "--algorithm 'fedsgd' is not a known algorithm"),
        ({}, [], "train needs --algorithm NAME"),
        ({"federation.clients_per_round": 50}, ["--algorithm", "fml"],
         "federation.clients_per_round=50 exceeds the 10 clients"),
        ({"variants": {"catfish": {}}}, ["--algorithm", "fml", "--variant", "catfsh"],
         "unknown variant 'catfsh' (variants: catfish)"),
        ({"models.local_cycle": ["mlp", "lenet5"]}, ["--algorithm", "fedavg"],
         "algorithms.fedavg cannot honour models.local_cycle/local_overrides: FedAvg trains one shared model"),
        ({"models.local_overrides": {0: "cnn"}}, ["--algorithm", "fedprox"], "algorithms.fedprox cannot honour"),
        ({"tasks.label_maps": {"coarse": [0, 1]}, "tasks.cycle": ["coarse"]}, ["--algorithm", "fml"],
         "tasks.label_maps.coarse has 2 labels"),
        ({"models.local_cycle": ["mlp", "cnn"], "federation.engine": "vectorized"}, ["--algorithm", "fml"],
         "federation.engine='vectorized' cannot train clients whose models differ in shape"),
    ],
)
def test_bad_train_requests(
    tmp_path: Path, small_data: Path, edit: dict[str, Any], args: list[str], expected: str
) -> None:
    _fails(_project(tmp_path, small_data, edit), ["run-stage", "train", *args], 2, expected)
    assert not (tmp_path / "runs").exists()


def test_algorithm_without_its_section(tmp_path: Path, small_data: Path) -> None:
    root = _project(tmp_path, small_data, drop=("algorithms.fedprox",))
    _fails(root, ["run-stage", "train", "--algorithm", "fedprox"], 2, "has no section algorithms.fedprox")


def test_cuda_requested_without_cuda(tmp_path: Path, small_data: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _fails(_project(tmp_path, small_data, {"base.device": "cuda"}), ["run-stage", "train", "--algorithm", "fml"], 2,
           "base.device='cuda' but no CUDA device is available")


def _fashion_layout(root: Path) -> Path:
    raw = root / "data" / "raw" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for src in Path("/usr/share/datasets/fashion-mnist").glob("*.gz"):
        shutil.copy(src, raw / src.name)
    return raw


def test_truncated_dataset_file(tmp_path: Path, small_data: Path) -> None:
    root = _project(tmp_path, None)
    raw = _fashion_layout(root)
    target = raw / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-40])
    line = _fails(root, ["run-stage", "prepare"], 1, "t10k-labels-idx1-ubyte.gz")
    assert not (root / "data" / "prepared").exists(), line


def test_dataset_with_wrong_checksum(tmp_path: Path, small_data: Path) -> None:
    root = _project(tmp_path, None)
    raw = _fashion_layout(root)
    labels = bytearray(gzip.decompress((raw / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[-1] = (labels[-1] + 1) % 10  # a valid IDX file, one label changed
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    line = _fails(root, ["run-stage", "prepare"], 1, "t10k-labels-idx1-ubyte")
    assert "sha256" in line and not (root / "data" / "prepared").exists()


def test_stage_run_before_its_inputs_exist(tmp_path: Path) -> None:
    _fails(_project(tmp_path, None), ["run-stage", "partition"], 1, "run `fmlpipe run-stage prepare`")


def test_corrupt_partition_file(tmp_path: Path, small_data: Path) -> None:
    root = _project(tmp_path, small_data)
    (root / "data" / "partition" / "partition.safetensors").write_bytes(b"\x00" * 64)
    _fails(root, ["run-stage", "train", "--algorithm", "fml"], 1, "partition.safetensors")


def test_unwritable_output_folder(tmp_path: Path, small_data: Path) -> None:
    root = _project(tmp_path, small_data)
    shutil.rmtree(root / "data" / "partition")
    (root / "data" / "partition").write_text("a file where the stage's output folder should be")
    _fails(root, ["run-stage", "partition"], 1, "cannot access")


def test_unreachable_tracking_server(tmp_path: Path, small_data: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = _project(tmp_path, small_data, {"tracking.enabled": True, "tracking.uri": f"http://127.0.0.1:{port}"})
    _fails(root, ["run-stage", "train", "--algorithm", "fedavg"], 1,
           f"tracking server http://127.0.0.1:{port} is unreachable")


def test_divergence_names_algorithm_client_round_and_marks_the_run_failed(tmp_path: Path, small_data: Path) -> None:
    from mlflow import MlflowClient

    # lr * mu >> 2: the proximal term overshoots and grows exponentially until it overflows.
    root = _project(tmp_path, small_data, {"federation.optimizer.lr": 1.0, "algorithms.fedprox.mu": 1e4,
                                           "tracking.enabled": True, "federation.rounds": 3})
    (root / ".dvc").mkdir()  # its own project root, so the store is tmp_path/mlflow.db
    line = _fails(root, ["run-stage", "train", "--algorithm", "fedprox"], 1, "fedprox: training diverged at round 1")
    assert ", client " in line and "lower federation.optimizer.lr" in line
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fmlpipe").experiment_id])
    assert runs and {r.info.status for r in runs} == {"FAILED"}
