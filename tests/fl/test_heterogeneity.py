"""Model heterogeneity (per-client local architectures) and task heterogeneity (per-client label
sets with private meme heads): who refuses, what differs, what is shared, and resume."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import fmlpipe.train.stage as stage
from fmlpipe.config import Params
from fmlpipe.data.store import load_prepared
from fmlpipe.errors import ParamsError
from fmlpipe.fl.aggregate import aggregation_weights, average_states
from fmlpipe.fl.algorithms import configured
from fmlpipe.fl.algorithms.fml import FML
from fmlpipe.fl.data import FederatedData, federated_data
from fmlpipe.fl.engines import EngineChoice, choose_engine
from fmlpipe.fl.engines.vectorized import Vectorized
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelKey, init_state
from fmlpipe.fl.personal_parts import HEAD, split
from fmlpipe.fl.protocol import EvalTask
from fmlpipe.fl.seeding import GLOBAL_INIT
from fmlpipe.fl.setup import Run, build_run
from fmlpipe.model_files import load_model
from fmlpipe.models.registry import build_model
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from fmlpipe.train.stage import fingerprint, run_train
from tests.conftest import small_params, with_section
from tests.fl.conftest import train_interrupted
from tests.fl.fakes import SHAPE, fake_data, federation, make_run

# Fashion-MNIST's 10 classes onto tops / shoes / bags / other.
COARSE = [0, 3, 0, 3, 0, 1, 0, 1, 2, 1]
CPU = torch.device("cpu")


def _hetero(params: Params, *, cycle: list[str] | None = None, overrides: dict[int, str] | None = None,
            tasks: list[str] | None = None, **federation: Any) -> Params:
    params = with_section(params, "federation", **federation) if federation else params
    params = with_section(params, "models", local_cycle=cycle or [], local_overrides=overrides or {})
    return with_section(params, "tasks", label_maps={"coarse": COARSE} if tasks else {}, cycle=tasks or [],
                        overrides={})


def _fml_run(params: Params, data: FederatedData) -> Run:
    return build_run(params, data, CPU, FML, configured(params)["fml"][1])


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _files(run_dir: Path) -> dict[str, bytes]:
    skip = {"timing.json", "checkpoint.safetensors"}
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name not in skip}


def test_a_cycle_gives_clients_their_own_architectures() -> None:
    data = fake_data()
    run = _fml_run(_hetero(small_params(), cycle=["mlp", "lenet5"]), data)
    personal = run.backend.personal
    counts = [sum(v.numel() for v in personal.get(cid).values()) for cid in range(data.num_clients)]
    mlp, lenet5 = (sum(p.numel() for p in build_model(m, SHAPE, 3).parameters()) for m in ("mlp", "lenet5"))
    assert counts == [mlp, lenet5, mlp, lenet5] and mlp != lenet5
    assert run.engine.name in ("sequential", "parallel")  # auto never stacks clients of different models
    assert personal.gather([0, 2])["head.weight"].shape == (2, 3, 200)  # one table per architecture
    with pytest.raises(ValueError, match="different shapes"):
        personal.gather([0, 1])


def test_mixed_models_train_sequentially_and_refuse_the_vectorized_engine() -> None:
    models = {"models.local": ("mlp", build_model("mlp", (1, 28, 28), 10))}
    why = "models.local_cycle/local_overrides give clients different local architectures"
    alg = make_run("fml", "mlp", federation(), "sequential", fake_data()).alg
    assert choose_engine("auto", alg, models, torch.device("cuda"), 1e15, why) == EngineChoice("sequential")
    with pytest.raises(ParamsError, match="^federation.engine='vectorized' cannot train clients whose models differ "
                                          "in shape: models.local_cycle/local_overrides give clients different "
                                          r"local architectures \(allowed for it: auto, sequential or parallel\)$"):
        _fml_run(_hetero(small_params(engine="vectorized"), overrides={0: "lenet5"}), fake_data())
    pairs = with_section(small_params(engine="vectorized"), "tasks", label_maps={"pair": [0, 1, 1]}, cycle=["pair"])
    with pytest.raises(ParamsError, match="tasks give clients different label sets"):
        _fml_run(pairs, fake_data())


@pytest.mark.parametrize("algorithm", ["fedavg", "fedprox"])
@pytest.mark.parametrize(("setting", "keys"), [({"overrides": {0: "lenet5"}}, "models.local_cycle/local_overrides"),
                                               ({"tasks": ["full", "coarse"]}, "tasks.cycle/overrides")])
def test_shared_model_algorithms_refuse_heterogeneity(project: Paths, algorithm: str, setting: dict[str, Any],
                                                      keys: str) -> None:
    name = {"fedavg": "FedAvg", "fedprox": "FedProx"}[algorithm]
    with pytest.raises(ParamsError, match=f"^algorithms.{algorithm} cannot honour {keys}: {name} trains one shared "
                                          "model; only fml and local have per-client local models$"):
        run_train(_hetero(small_params(), **setting), project, algorithm)
    assert not (project.root / "runs").exists()


@pytest.mark.parametrize(("tasks", "message"), [
    ({"label_maps": {"coarse": COARSE[:9]}, "cycle": ["coarse"]},
     r"^tasks.label_maps.coarse has 9 labels but the dataset has 10 classes \(one label per dataset class\)$"),
    ({"label_maps": {}, "cycle": [], "overrides": {10: "full"}},
     r"^tasks.overrides: client 10 does not exist \(clients are 0..9, partition.num_clients\)$"),
])
def test_bad_task_settings_fail_in_one_line_before_writing(project: Paths, tasks: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        run_train(with_section(small_params(), "tasks", **tasks), project, "fml")
    with pytest.raises(ParamsError, match="^models.local_overrides: client 12 does not exist"):
        run_train(with_section(small_params(), "models", local_overrides={12: "cnn"}), project, "fml")
    assert not (project.root / "runs").exists()


def test_tasks_are_part_of_the_checkpoint_fingerprint() -> None:
    params = small_params()
    fml = configured(params)["fml"][1]
    coarse = _hetero(params, tasks=["coarse"])
    assert fingerprint(params, "fml", fml, "d", "p", "c") != fingerprint(coarse, "fml", fml, "d", "p", "c")


@pytest.mark.parametrize(("algorithm", "setting"), [
    ("fml", {"cycle": ["mlp", "lenet5"]}),
    ("fml", {"overrides": {0: "lenet5"}}),
    ("local", {"cycle": ["mlp", "lenet5"], "tasks": ["coarse", "full"]}),
])
def test_heterogeneous_runs_save_each_clients_own_model(
    project: Paths, algorithm: str, setting: dict[str, Any]
) -> None:
    params = _hetero(small_params(rounds=2), **setting)
    run_train(params, project, algorithm)
    models = project.run_dir(algorithm) / "models"
    arch = json.loads((models / "architectures.json").read_text())
    for cid in range(10):
        expected = params.models.local_for(cid), 4 if params.tasks.task_for(cid) == "coarse" else 10
        assert (arch[f"client-{cid:03d}"]["arch"], arch[f"client-{cid:03d}"]["num_classes"]) == expected
        module = load_model(models / f"client-{cid:03d}.safetensors")
        assert module.head.out_features == expected[1]  # loads back in its own architecture
    rows = _rows(project.run_dir(algorithm) / "clients.csv")
    assert len(rows) == 2 * 10 and all(0.0 <= float(r["acc_personalized"]) <= 1.0 for r in rows)


def test_coarse_task_shares_the_body_keeps_heads_private_and_scores_mapped_labels(project: Paths) -> None:
    # odd clients learn the coarse task; sequential, so the spy below sees every client's load in order
    params = _hetero(small_params(engine="sequential"), tasks=["full", "coarse"])
    data = federated_data(load_prepared(project), Partition.load(project.partition_file), CPU)
    run = _fml_run(params, data)
    alg, pool, personal = run.alg, run.pool, run.backend.personal
    roster = alg.ctx.roster
    values = alg.round_values(1, 1)
    assert roster.private_heads and [roster.classes[t] for t in roster.tasks[:2]] == [10, 4]
    glob = init_state(pool.get(GLOBAL), 0, GLOBAL_INIT)
    results = run.backend.train(1, 0.01, values, list(range(10)), glob)
    assert all(not k.startswith("head.") for r in results for k in r.sent or {})  # heads are never sent
    glob = alg.server_update(glob, results)
    weights = aggregation_weights([r.num_samples for r in results], "weighted")
    expected = average_states([r.sent for r in results if r.sent is not None], weights)
    assert glob.keys() == expected.keys() and all(torch.equal(glob[k], expected[k]) for k in glob)

    received: dict[int, dict[str, torch.Tensor]] = {}
    real_load = pool.load

    def spy(which: Any, state: dict[str, torch.Tensor]) -> torch.nn.Module:
        if isinstance(which, ModelKey) and which.role == GLOBAL:
            received[len(received)] = {k: v.clone() for k, v in state.items()}
        return real_load(which, state)

    pool.load = spy  # type: ignore[method-assign]
    run.backend.train(2, 0.01, values, list(range(10)), glob)
    pool.load = real_load  # type: ignore[method-assign]
    bodies = [{k: v for k, v in s.items() if not k.startswith("head.")} for s in received.values()]
    assert all(b.keys() == glob.keys() and all(torch.equal(b[k], glob[k]) for k in b) for b in bodies)
    heads = [s["head.weight"] for s in received.values()]
    assert [h.shape[0] for h in heads] == [10, 4] * 5
    assert not torch.equal(heads[0], heads[2]) and not torch.equal(heads[1], heads[3])  # each client its own
    kept = personal.get(3)[HEAD + "head.weight"]
    assert kept.shape == (4, 200) and not torch.equal(kept, heads[3])  # trained on in round 2, kept

    lut = torch.tensor(COARSE)
    for cid in (1, 2):
        own = split(personal.get(cid)).own
        module = pool.load(roster.key(LOCAL, cid), own)
        test = data.clients[cid].test
        labels = lut[data.train_y[test]] if cid % 2 else data.train_y[test]
        acc = (module(data.train_x[test]).argmax(1) == labels).double().mean().item()
        assert _accuracy(run, cid) == pytest.approx(acc, abs=1e-12)
    run.backend.engine = Vectorized(pool)
    assert run.backend.evaluate(2, glob) == [_accuracy(run, c) for c in range(10)]


def _accuracy(run: Run, cid: int) -> float:
    task = EvalTask(cid, 2, None, run.backend.personal.get(cid))
    return run.alg.personalized_accuracy(task, run.pool)


def test_task_heterogeneous_fml_records_every_tasks_global_accuracy(project: Paths) -> None:
    run_train(_hetero(small_params(rounds=1), tasks=["full", "coarse"]), project, "fml")
    run_dir = project.run_dir("fml")
    row = _rows(run_dir / "history.csv")[0]
    assert row["acc_global_test"] == row["acc_global_test_full"] != row["acc_global_test_coarse"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["acc_global_test_coarse"] == float(row["acc_global_test_coarse"])
    full, coarse = (load_model(run_dir / "models" / f"{n}.safetensors") for n in ("global", "global-coarse"))
    assert (full.head.out_features, coarse.head.out_features) == (10, 4)
    assert all(torch.equal(v, coarse.state_dict()[k])
               for k, v in full.state_dict().items() if not k.startswith("head."))


def test_resume_with_heterogeneity_is_bit_identical(project: Paths, tmp_path_factory: pytest.TempPathFactory,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    params = _hetero(small_params(rounds=2), cycle=["mlp", "lenet5", "mlp"], tasks=["full", "coarse"],
                     clients_per_round=0.5)
    whole = Paths(tmp_path_factory.mktemp("whole"))
    shutil.copytree(project.root / "data", whole.root / "data")
    run_train(params, whole, "fml")
    train_interrupted(params, project, "fml", 1, monkeypatch)
    starts: list[int] = []
    real = stage.simulate
    monkeypatch.setattr(stage, "simulate",
                        lambda alg, b, p, s, r, cb: (starts.append(s.round), real(alg, b, p, s, r, cb))[1])
    run_train(params, project, "fml")
    assert starts == [1]  # resumed after round 1
    assert _files(project.run_dir("fml")) == _files(whole.run_dir("fml"))
