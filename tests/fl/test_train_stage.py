"""The train stage end to end on real (small) data: outputs, determinism, resume, errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import fmlpipe.train.stage as stage
from fmlpipe import machine
from fmlpipe.codehash import stage_fingerprints
from fmlpipe.errors import ParamsError
from fmlpipe.model_files import load_model
from fmlpipe.paths import Paths
from fmlpipe.stages import STAGES
from fmlpipe.train.stage import run_train
from tests.conftest import with_section
from tests.fl.conftest import run_files, simulation_starts, small_params, train_interrupted


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_fml_writes_models_history_and_metrics(project: Paths) -> None:
    run_train(small_params(), project, "fml")
    run_dir = project.run_dir("fml")
    models = sorted(p.name for p in (run_dir / "models").iterdir())
    assert models == ["architectures.json", *[f"client-{i:03d}.safetensors" for i in range(10)], "global.safetensors"]
    history = _rows(run_dir / "history.csv")
    assert [r["round"] for r in history] == ["1", "2", "3"]
    assert {"alpha", "beta", "train_loss_local", "train_loss_meme", "acc_global_test",
            "acc_personalized_mean", "acc_personalized_p10"} <= set(history[0])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["rounds"] == 3 and metrics["acc_personalized_mean"] == float(history[-1]["acc_personalized_mean"])
    assert len(_rows(run_dir / "clients.csv")) == 3 * 10
    timing = json.loads((run_dir / "timing.json").read_text())
    assert timing["machine"] == json.loads(json.dumps(machine.describe()))  # the CPU the timings are of


def test_saved_personalized_model_reproduces_its_recorded_accuracy(project: Paths) -> None:
    run_train(small_params(), project, "fml")
    import torch

    from fmlpipe.data.store import load_prepared
    from fmlpipe.partition.result import Partition

    prepared = load_prepared(project)
    test_idx = torch.tensor(Partition.load(project.partition_file).test[4])
    model = load_model(project.run_dir("fml") / "models" / "client-004.safetensors")
    x = prepared.train_x[test_idx].float() / 255
    acc = (model(x).argmax(1) == prepared.train_y[test_idx]).double().mean().item()
    last = [r for r in _rows(project.run_dir("fml") / "clients.csv") if r["round"] == "3" and r["client"] == "4"]
    assert acc == pytest.approx(float(last[0]["acc_personalized"]), abs=1e-12)


def test_same_seed_same_bits(project: Paths, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = Paths(tmp_path_factory.mktemp("again"))
    shutil.copytree(project.root / "data", other.root / "data")
    params = small_params(rounds=2)
    run_train(params, project, "fml")
    run_train(params, other, "fml")
    assert run_files(project.run_dir("fml")) == run_files(other.run_dir("fml"))
    reseeded = Paths(tmp_path_factory.mktemp("reseeded"))
    shutil.copytree(project.root / "data", reseeded.root / "data")
    run_train(with_section(params, "base", seed=1), reseeded, "fml")
    assert run_files(reseeded.run_dir("fml")) != run_files(project.run_dir("fml"))


def test_checkpoints_every_checkpoint_seconds_and_after_the_last_round(
    project: Paths, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fmlpipe.train.stage as stage

    saved: list[int] = []
    real = stage.save_checkpoint
    monkeypatch.setattr(stage, "save_checkpoint", lambda path, state, *a: (saved.append(state.round),
                                                                          real(path, state, *a)))
    params = small_params(rounds=3)
    run_train(params, project, "fml")
    assert saved == [1, 2, 3]  # checkpoint_seconds: 0 in params.yaml
    saved.clear()
    sparse = Paths(tmp_path_factory.mktemp("sparse"))
    shutil.copytree(project.root / "data", sparse.root / "data")
    run_train(with_section(params, "execution", checkpoint_seconds=3600.0), sparse, "fml")
    assert saved == [3]  # the last round only, within the hour
    assert run_files(sparse.run_dir("fml")) == run_files(project.run_dir("fml"))  # the same run


@pytest.mark.parametrize(("rnd", "elapsed", "due"), [(1, 0.0, False), (1, 59.9, False), (1, 60.0, True),
                                                     (2, 0.0, False), (3, 0.0, True)])
def test_checkpoint_due_once_the_seconds_passed_or_at_the_last_round(rnd: int, elapsed: float, due: bool) -> None:
    from fmlpipe.train.checkpoint import checkpoint_due

    assert checkpoint_due(rnd, 3, elapsed, 60.0) is due
    assert checkpoint_due(rnd, 3, elapsed, 0.0)  # 0: every round


@pytest.mark.parametrize("algorithm", ["fml", "fedprox"])
def test_resume_after_interruption_is_bit_identical(
    algorithm: str, project: Paths, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = small_params(rounds=3, clients_per_round=0.5)
    whole = Paths(tmp_path_factory.mktemp("whole"))
    shutil.copytree(project.root / "data", whole.root / "data")
    run_train(params, whole, algorithm)

    train_interrupted(params, project, algorithm, 2, monkeypatch)
    assert not (project.run_dir(algorithm) / "metrics.json").exists()
    calls = simulation_starts(monkeypatch)
    run_train(params, project, algorithm)
    assert calls == [2]  # resumed after round 2, not from scratch
    assert run_files(project.run_dir(algorithm)) == run_files(whole.run_dir(algorithm))


def test_checkpoint_of_other_params_is_not_resumed(project: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    run_train(small_params(rounds=1), project, "fedavg")
    starts = simulation_starts(monkeypatch)
    params = small_params(rounds=1)
    params = with_section(params, "federation", optimizer=params.federation.optimizer.model_copy(update={"lr": 0.02}))
    run_train(params, project, "fedavg")
    assert starts == [0]


def test_checkpoint_of_other_training_code_is_not_resumed_nor_extended(
        project: Paths, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    train_interrupted(small_params(rounds=3), project, "fedavg", 1, monkeypatch)
    monkeypatch.setattr(stage, "code_sha256", lambda: "f" * 64)  # as after an edit of the training code
    starts = simulation_starts(monkeypatch)
    run_train(small_params(rounds=3), project, "fedavg")
    assert starts == [0]
    checkpoint = project.run_dir("fedavg") / "checkpoint.safetensors"
    assert f"note: fedavg: {checkpoint} is of other params, data or training code" in capfd.readouterr().err
    monkeypatch.setattr(stage, "code_sha256", lambda: "e" * 64)  # a finished 3-round run, more rounds asked
    run_train(small_params(rounds=4), project, "fedavg")
    assert starts == [0, 0]


def test_the_checkpoint_names_the_training_code_as_code_train_sha256_does() -> None:
    listed = stage_fingerprints({name: entry.modules for name, entry in STAGES.items()})
    assert stage.code_sha256() == listed["train"].combined


def test_local_only_has_no_global_model_and_fedavg_finetunes(project: Paths) -> None:
    run_train(small_params(rounds=1), project, "local")
    assert not (project.run_dir("local") / "models" / "global.safetensors").exists()
    assert "acc_global_test" not in _rows(project.run_dir("local") / "history.csv")[0]
    params = small_params(rounds=1)
    run_train(params, project, "fedavg")
    row = _rows(project.run_dir("fedavg") / "history.csv")[0]
    assert float(row["acc_personalized_mean"]) == float(row["acc_global_local_mean"])
    params = params.model_copy(update={"algorithms": {**params.algorithms, "fedavg_ft": {"finetune_epochs": 1}}})
    run_train(params, project, "fedavg_ft")
    tuned = _rows(project.run_dir("fedavg_ft") / "history.csv")[0]
    assert tuned["acc_global_local_mean"] == row["acc_global_local_mean"]  # the same FedAvg training
    assert float(tuned["acc_personalized_mean"]) > float(tuned["acc_global_local_mean"])


@pytest.mark.parametrize(
    ("algorithm", "federation", "message"),
    [
        (None, {}, "train needs --algorithm NAME"),
        ("fedsgd", {}, "--algorithm 'fedsgd' is not a known algorithm (known: fml, fedavg, fedavg_ft, fedprox, local, "
                                  "ditto, fedrep, fedper, apfl)"),
        ("fml", {"clients_per_round": 11}, "federation.clients_per_round=11 exceeds the 10 clients"),
    ],
)
def test_bad_train_requests_fail_before_writing(project: Paths, algorithm: str | None,
                                                 federation: dict[str, object], message: str) -> None:
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_train(small_params(**federation), project, algorithm)
    assert not (project.root / "runs").exists()
