"""The benchmark's targets, on made-up results: which cases each target pairs and what it checks."""

from __future__ import annotations

from typing import Any

from fmlpipe.bench.report import targets, targets_table


def result(**fields: Any) -> dict[str, Any]:
    """A measured case with ordinary figures, ``fields`` replacing some."""
    base: dict[str, Any] = {
        "setting": "A", "algorithm": "fml", "engine": "parallel", "engine_used": "parallel", "compiled": False,
        "compile": "auto", "compile_used": "off", "device": "cpu", "precision": "fp32", "model": "cnn",
        "backend": "local", "workers": 1, "repeat": 0, "seconds_per_round": 10.0,
        "train_seconds_per_round": 9.0, "train_samples_per_second": 1000.0, "flops_ratio": 0.6,
        "eval_flops_ratio": 0.6, "eval_share_of_training": 0.1, "peak_rss_bytes": 1024**3,
        "rounds_peak_rss_bytes": 1024**3, "worker_peak_rss_bytes": [], "worker_rounds_peak_rss_bytes": []}
    return {**base, **fields}


def named(checks: list[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    return [c for c in checks if c["target"].startswith(start)]


def test_ray_overhead_is_against_the_local_parallel_engine_of_the_same_case() -> None:
    local = result()
    sequential = result(engine="sequential", engine_used="sequential", seconds_per_round=5.0)
    other_setting = result(setting="B", seconds_per_round=1.0)
    ray = result(backend="ray", workers=2, seconds_per_round=12.0, worker_peak_rss_bytes=[1, 2])
    [check] = named(targets([sequential, other_setting, local, ray]), "A: Ray (2 one-CPU workers)")
    assert check["value"] == 1.2 and check["met"] and check["engine"] == "ray2:parallel"
    [slow] = named(targets([local, {**ray, "seconds_per_round": 14.0}]), "A: Ray")
    assert slow["value"] == 1.4 and not slow["met"]


def test_ray_targets_leave_the_local_targets_to_the_local_cases() -> None:
    checks = targets([result(backend="ray", workers=2)])  # no local case to hold it against
    assert checks == []


def test_ray_driver_memory_is_fml_against_fedavg_at_scale() -> None:
    fedavg = result(setting="scale", algorithm="fedavg", backend="ray", workers=2, rounds_peak_rss_bytes=1000)
    fml = result(setting="scale", algorithm="fml", backend="ray", workers=2, rounds_peak_rss_bytes=1050,
                 peak_rss_bytes=5000)  # the whole case's peak (loading the data) is not the one compared
    local_fml = result(setting="scale", algorithm="fml", rounds_peak_rss_bytes=9000)
    [check] = named(targets([local_fml, fedavg, fml]), "scale: Ray driver peak memory")
    assert check["value"] == 1.05 and check["met"]
    [grown] = named(targets([fedavg, {**fml, "rounds_peak_rss_bytes": 1500}]), "scale: Ray driver")
    assert not grown["met"]


def test_bf16_speedup_pairs_the_fp32_case_of_the_same_backend_and_engine() -> None:
    fp32 = result(setting="B", train_samples_per_second=100.0)
    ray_fp32 = result(setting="B", backend="ray", workers=2, train_samples_per_second=10.0)
    bf16 = result(setting="B", precision="bf16", train_samples_per_second=170.0)
    [check] = named(targets([ray_fp32, fp32, bf16]), "B: bf16")
    assert check["value"] == 1.7 and check["met"]


def test_repeated_runs_pair_within_a_run_and_judge_the_median() -> None:
    runs = []
    for repeat, (fp32, bf16) in enumerate([(100.0, 150.0), (80.0, 136.0), (120.0, 210.0)]):  # 1.5x, 1.7x, 1.75x
        runs += [result(setting="B", repeat=repeat, train_samples_per_second=fp32),
                 result(setting="B", precision="bf16", repeat=repeat, train_samples_per_second=bf16)]
    [check] = named(targets(runs), "B: bf16")
    # each bf16 run against the fp32 run of its own turn (not the first fp32 run: 1.5, 1.36 and 2.1)
    assert check["values"] == [1.5, 1.7, 1.75] and check["value"] == 1.7 and check["met"]
    assert (check["limit"], check["at_least"]) == (1.6, True)
    [seconds] = named(targets([result(repeat=0, train_seconds_per_round=25.0),
                               result(repeat=1, train_seconds_per_round=35.0),
                               result(repeat=2, train_seconds_per_round=31.0)]), "A: FML training s/round")
    assert seconds["values"] == [25.0, 35.0, 31.0] and seconds["value"] == 31.0 and not seconds["met"]
    [row] = targets_table([check]).columns[2].cells
    assert row == "1.7 (median of 3 runs, 1.5 to 1.75)"
    [one] = named(targets(runs[:2]), "B: bf16")
    assert one["values"] == [1.5] and not one["met"]
    [row] = targets_table([one]).columns[2].cells
    assert row == "1.5"


def test_the_gpu_round_target_is_per_precision_and_compilation_and_the_cpu_one_stays_on_the_cpu() -> None:
    def gpu(**fields: Any) -> dict[str, Any]:
        return result(device="cuda:0", engine="vectorized", engine_used="vectorized", **fields)

    eager = gpu(train_seconds_per_round=7.35)
    graphs = gpu(compile="graphs", compile_used="graphs", compiled=True, train_seconds_per_round=0.8)
    bf16 = gpu(precision="bf16", compile="on", compile_used="on", compiled=True, train_seconds_per_round=0.9)
    checks = named(targets([eager, graphs, bf16]), "A on the GPU")
    by_engine = {(c["engine"], c["target"]): (c["value"], c["met"]) for c in checks}
    assert by_engine == {
        ("vectorized", "A on the GPU, fp32: FML training s/round <= 1"): (7.35, False),
        ("vectorized+graphs", "A on the GPU, fp32: FML training s/round <= 1"): (0.8, True),
        ("vectorized+compile", "A on the GPU, bf16: FML training s/round <= 1"): (0.9, True),
    }
    assert named(targets([eager]), "A: FML training s/round <= 30") == []  # the 2-core CPU's target
    assert named(targets([result()]), "A on the GPU") == []
    assert len(named(targets([result()]), "A: FML training s/round <= 30")) == 1
