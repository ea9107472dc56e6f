"""Measure one benchmark case in this process: the fp32 matmul FLOP/s of the machine right
now, then the case's rounds, timed, with the training FLOPs they did and the peak memory."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from fmlpipe.bench.settings import Case
from fmlpipe.config import load_params
from fmlpipe.data.store import load_prepared
from fmlpipe.fl.algorithms import configured
from fmlpipe.fl.algorithms.base import Algorithm
from fmlpipe.fl.backend import Backend
from fmlpipe.fl.data import FederatedData, federated_data
from fmlpipe.fl.device import make_deterministic, resolve_device
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, init_state
from fmlpipe.fl.sampling import participants_per_round, sample_clients
from fmlpipe.fl.seeding import GLOBAL_INIT
from fmlpipe.fl.setup import build_run
from fmlpipe.fl.simulation import RunState, simulate
from fmlpipe.memory import process_peak_bytes, recent_peak_bytes, reset_recent_peak
from fmlpipe.models.flops import flops_per_sample
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths

MATMUL_SIZE = 2048
TRAIN_PASSES = 3  # a training sample costs one forward and a backward of about two forwards


def matmul_flops(device: torch.device, reps: int = 5) -> float:
    """Best-of-``reps`` FLOP/s of a 2048 x 2048 fp32 matmul: the machine's practical peak."""
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device)
    best = float("inf")
    for _ in range(reps + 1):  # the first one warms up
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * MATMUL_SIZE**3 / best


def run_case(case: Case, root: Path) -> dict[str, Any]:
    """Run ``case`` on the data prepared under ``root``; the figures the report shows."""
    load_before = os.getloadavg()[0]
    params = case.params()
    paths = Paths(root)
    device = resolve_device(params.base.device)
    make_deterministic()
    matmul = matmul_flops(device)
    prepared, partition = load_prepared(paths), Partition.load(paths.partition_file)
    data = federated_data(prepared, partition, device, params.data.normalize)
    cls, section = configured(params)[case.algorithm]
    run = build_run(params, data, device, cls, section)
    pool, seed = run.pool, params.base.seed
    backend: Backend = run.backend
    ray_backend = None
    if case.backend == "ray":
        from fmlpipe.cluster.backend import RayBackend  # imports Ray: only for its cases

        backend = ray_backend = RayBackend(params, case.algorithm, prepared, partition, os.environ)
    state = RunState(global_state=init_state(pool.get(GLOBAL), seed, GLOBAL_INIT) if cls.uses_global else None)
    rounds: list[tuple[float, float]] = []

    def on_round(s: RunState) -> None:
        _sync(device)
        rounds.append((s.train_seconds, s.eval_seconds))

    try:
        # The rounds' own peak memory, apart from setting up (loading the data peaks higher).
        reset_recent_peak()
        if ray_backend is not None:
            ray_backend.reset_peaks()
        simulate(run.alg, backend, pool, state, case.rounds, on_round)
        rounds_peak = recent_peak_bytes()
        workers = ray_backend.memory() if ray_backend is not None else []
    finally:
        if ray_backend is not None:
            ray_backend.close()
    train = [b[0] - a[0] for a, b in zip([(0.0, 0.0), *rounds], rounds)]
    evals = [b[1] - a[1] for a, b in zip([(0.0, 0.0), *rounds], rounds)]
    count = participants_per_round(params.federation.clients_per_round, data.num_clients)
    samples = [sum(data.clients[c].num_train for c in sample_clients(data.num_clients, count, seed, rnd))
               for rnd in range(1, case.rounds + 1)]
    flops_per_train_sample = TRAIN_PASSES * sum(
        flops_per_sample(pool.get(slot.role), data.input_shape) for slot in cls.slots)
    eval_flops = evaluation_flops(run.alg, pool, data)
    # Per-round figures leave out the first round when there are more: it also pays one-time
    # costs (compiling, first touches of memory, lazy personal states), reported on its own.
    steady = slice(1, None) if case.rounds > 1 else slice(None)
    train_s, eval_s = _mean(train[steady]), _mean(evals[steady])
    flops = flops_per_train_sample * sum(samples[steady]) / sum(train[steady])
    eval_rate = eval_flops / eval_s if eval_s > 0 else 0.0
    return {
        **case.to_dict(),
        "engine_used": run.engine.name,
        "compiled": run.engine.compiled,
        "compile_used": run.engine.compile,  # off | on | graphs, where "compile" is what the case asked
        "device": str(device),
        "threads": torch.get_num_threads(),
        "participants": count,
        "train_samples_per_round": _mean(samples[steady]),
        "train_seconds_per_round": train_s,
        "eval_seconds_per_round": eval_s,
        "seconds_per_round": train_s + eval_s,
        "round_train_seconds": train,
        "round_eval_seconds": evals,
        "first_round_train_seconds": train[0],
        "first_round_eval_seconds": evals[0],
        "train_samples_per_second": sum(samples[steady]) / sum(train[steady]),
        "train_flops_per_sample": flops_per_train_sample,
        "train_flops_per_second": flops,
        "matmul_flops_per_second": matmul,
        "flops_ratio": flops / matmul,
        "eval_flops_per_round": eval_flops,
        "eval_flops_per_second": eval_rate,
        "eval_flops_ratio": eval_rate / matmul,
        "eval_share_of_training": eval_s / train_s,
        # This process (with the Ray backend, the driver): over the case, and during the rounds.
        "peak_rss_bytes": process_peak_bytes(),
        "rounds_peak_rss_bytes": rounds_peak,
        # The Ray backend: each worker's, over its life and during the rounds.
        "worker_peak_rss_bytes": [life for life, _ in workers],
        "worker_rounds_peak_rss_bytes": [during for _, during in workers],
        **(pipeline_share(case, train_s, evals) if case.params_file is not None else {}),
        # Other processes' load skews every figure (worse for small, many-op work): the
        # 1-minute load average before and after the case, to read the numbers by.
        "load_average": [load_before, os.getloadavg()[0]],
    }


def pipeline_share(case: Case, train_s: float, evals: list[float]) -> dict[str, Any]:
    """Evaluation over training in the project's own pipeline, from this case's rounds (each one
    evaluated): its evaluations are ordinary ones plus the last (where FedAvg-FT fine-tunes),
    so ``(ordinary x (n - 1) + last) / (train s/round x rounds)``. The ordinary one is the mean
    of the rounds between the first (one-time costs) and the last; with 2 rounds, the first."""
    assert case.params_file is not None
    fed = load_params(case.params_file).federation
    count = sum(1 for rnd in range(1, fed.rounds + 1) if rnd % fed.eval_every == 0 or rnd == fed.rounds)
    ordinary = _mean(evals[1:-1]) if len(evals) > 2 else evals[0]
    seconds = ordinary * (count - 1) + evals[-1]
    return {"pipeline_rounds": fed.rounds, "pipeline_evaluations": count,
            "pipeline_eval_seconds": seconds, "pipeline_train_seconds": train_s * fed.rounds,
            "pipeline_eval_share": seconds / (train_s * fed.rounds)}


def evaluation_flops(alg: Algorithm, pool: ModelPool, data: FederatedData) -> float:
    """Forward FLOPs of one evaluation round (not the last, where FedAvg-FT also fine-tunes):
    the global model on the global test set and on every local test split, and each client's
    personalized model on its local test split where that is not the global model."""
    local_tests = sum(int(c.test.numel()) for c in data.clients)
    total = 0.0
    if alg.uses_global:
        total += flops_per_sample(pool.get(GLOBAL), data.input_shape) * (int(data.test_y.numel()) + local_tests)
    if not alg.personalized_is_global and alg.personalize_every_round:
        role = LOCAL if LOCAL in alg.roles else GLOBAL
        total += flops_per_sample(pool.get(role), data.input_shape) * local_tests
    return total


def _mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
