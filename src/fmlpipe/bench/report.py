"""The benchmark's table, its targets, and its JSON."""

from __future__ import annotations

import statistics
from typing import Any

from rich.table import Table

A_SECONDS = 30.0  # setting A: FML training round on the 2-core CPU
GPU_A_SECONDS = 1.0  # setting A: the vectorized FML training round on a GPU
B_RATIO = 0.5  # setting B: training FLOP/s over matmul FLOP/s
SCALE_BYTES = 2 * 1024**3  # scale: peak memory with 1,000 personalized CNNs
SCALE_GROWTH = 1.5  # scale: round time with 10x the clients (same participants) at most this x
EVAL_RATIO = 0.5  # evaluation FLOP/s over matmul FLOP/s (forward FLOPs only)
EVAL_SHARE = 0.15  # default pipeline: evaluation seconds over training seconds in its schedule, each algorithm
BF16_SPEEDUP = 1.6  # setting B: bf16 training samples/s over fp32's
RAY_OVERHEAD = 1.3  # Ray backend: seconds per round over the local parallel engine's, same case
RAY_DRIVER_GROWTH = 1.1  # scale, Ray: the driver's peak memory in the rounds, FML's (personal states) over FedAvg's


TARGET_MODEL = "cnn"  # the targets are set for the FedAvg CNN


def _same(r: dict[str, Any], results: list[dict[str, Any]], **fixed: Any) -> list[dict[str, Any]]:
    """The cases that differ from ``r`` only in the keys ``fixed`` sets (to those values)."""
    keys = ("setting", "algorithm", "engine", "precision", "compile", "model", "backend", "repeat")
    want = {k: fixed.get(k, r[k]) for k in keys}
    return [q for q in results if all(q[k] == v for k, v in want.items())]


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target, per engine (cnn cases only): its value in each run (``fmlpipe bench
    --repeats``; a ratio between two cases pairs the cases of one run), their median, and whether
    the median meets the target."""
    out: list[dict[str, Any]] = []
    checks = _run_targets(results)
    for key in dict.fromkeys((c["target"], c["engine"]) for c in checks):
        runs = [c for c in checks if (c["target"], c["engine"]) == key]
        values = [c["value"] for c in runs]
        value = statistics.median(values)
        limit, at_least = runs[0]["limit"], runs[0]["at_least"]
        out.append({**runs[0], "value": value, "values": values,
                    "met": value >= limit if at_least else value <= limit})
    return out


def _run_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of each run, unjudged."""
    out: list[dict[str, Any]] = []
    for r in results:
        if r["model"] != TARGET_MODEL:
            continue
        if r["backend"] == "ray":
            out += _ray_targets(r, results)
            continue
        if r["setting"] in ("A", "B") and r["precision"] == "fp32":
            out.append(_target(f"{r['setting']}: evaluation FLOP/s >= 50% of matmul", r, r["eval_flops_ratio"],
                               EVAL_RATIO, at_least=True))
        if r["setting"] == "default":
            share = r["pipeline_eval_share"]
            out.append(_target(f"default {r['algorithm']}: evaluation <= 15% of training over the pipeline's "
                               f"{r['pipeline_rounds']} rounds", r, share, EVAL_SHARE, at_least=False))
        if r["setting"] == "B" and r["precision"] == "bf16":
            fp32 = _same(r, results, precision="fp32")
            if fp32:
                speedup = r["train_samples_per_second"] / fp32[0]["train_samples_per_second"]
                out.append(_target("B: bf16 training samples/s >= 1.6x fp32", r, speedup, BF16_SPEEDUP,
                                   at_least=True))
        if r["setting"] == "A" and r["device"].startswith("cuda") and r["engine_used"] == "vectorized":
            out.append(_target(f"A on the GPU, {r['precision']}: FML training s/round <= {GPU_A_SECONDS:g}", r,
                               r["train_seconds_per_round"], GPU_A_SECONDS, at_least=False))
        if r["precision"] != "fp32":
            continue
        if r["setting"] == "A" and r["device"] == "cpu":
            out.append(_target("A: FML training s/round <= 30", r, r["train_seconds_per_round"], A_SECONDS,
                               at_least=False))
        elif r["setting"] == "B":
            out.append(_target("B: training FLOP/s >= 50% of matmul", r, r["flops_ratio"], B_RATIO, at_least=True))
        elif r["setting"] == "scale":
            if r["algorithm"] == "fml":
                out.append(_target("scale: FML peak memory < 2 GB", r, r["peak_rss_bytes"] / 1024**3,
                                   SCALE_BYTES / 1024**3, at_least=False))
            ref = _same(r, results, setting="scale-ref")
            if ref:
                growth = r["train_seconds_per_round"] / ref[0]["train_seconds_per_round"]
                out.append(_target(f"scale: {r['algorithm']} train s/round, 10x clients / 1x (same participants)"
                                   f" <= {SCALE_GROWTH}", r, growth, SCALE_GROWTH, at_least=False))
    return out


def _ray_targets(r: dict[str, Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Ray backend's overhead over the local parallel engine (same case), and, at scale,
    whether the driver's memory stays clear of the personal states (FML's against FedAvg's)."""
    out: list[dict[str, Any]] = []
    local = _same(r, results, backend="local", engine="parallel")
    if r["setting"] in ("A", "B") and local:
        ratio = r["seconds_per_round"] / local[0]["seconds_per_round"]
        out.append(_target(f"{r['setting']}: Ray ({r['workers']} one-CPU workers) s/round / local parallel "
                           f"<= {RAY_OVERHEAD}", r, ratio, RAY_OVERHEAD, at_least=False))
    fedavg = _same(r, results, algorithm="fedavg")
    if r["setting"] == "scale" and r["algorithm"] == "fml" and fedavg:
        growth = r["rounds_peak_rss_bytes"] / fedavg[0]["rounds_peak_rss_bytes"]
        out.append(_target(f"scale: Ray driver peak memory in the rounds, FML (personal states) / FedAvg <= "
                           f"{RAY_DRIVER_GROWTH}",
                           r, growth, RAY_DRIVER_GROWTH, at_least=False))
    return out


def _target(name: str, r: dict[str, Any], value: float, limit: float, at_least: bool) -> dict[str, Any]:
    """``value`` must be at least ``limit`` (``at_least``), or at most."""
    return {"target": name, "engine": _engine(r), "value": value, "limit": limit, "at_least": at_least}


def _engine(r: dict[str, Any]) -> str:
    """The engine asked for, the one used where it differs, and the Ray workers running it."""
    engine = r["engine"] if r["engine_used"] == r["engine"] else f"{r['engine']}->{r['engine_used']}"
    if r["compiled"]:
        engine += "+graphs" if r["compile_used"] == "graphs" else "+compile"
    return f"ray{r['workers']}:{engine}" if r["backend"] == "ray" else engine


def table(results: list[dict[str, Any]]) -> Table:
    models = ", ".join(sorted({r["model"] for r in results}))
    t = Table(title=f"fmlpipe bench (Fashion-MNIST, {models})")
    run = ("run",) if any(r["repeat"] for r in results) else ()  # which of the --repeats runs
    engine_width = max((len(_engine(r)) for r in results), default=0)  # "vectorized+compile" whole, not cut
    for col in ("setting", *run, "alg", "engine", "prec", "clients", "batch", "train s/rnd", "eval s/rnd",
                "1st rnd s", "samples/s", "GFLOP/s", "matmul GFLOP/s", "ratio", "eval ratio", "peak MB", "rounds MB",
                "worker MB", "worker rounds MB", "load"):
        t.add_column(col, justify="left" if col in ("setting", "alg", "engine", "prec") else "right",
                     min_width=engine_width if col == "engine" else None)
    for r in results:
        t.add_row(
            r["setting"], *((str(r["repeat"] + 1),) if run else ()), r["algorithm"], _engine(r), r["precision"],
            f"{r['participants']}/{r['num_clients']}",
            str(r["batch_size"]), f"{r['train_seconds_per_round']:.2f}", f"{r['eval_seconds_per_round']:.2f}",
            f"{r['first_round_train_seconds'] + r['first_round_eval_seconds']:.2f}",
            f"{r['train_samples_per_second']:.0f}", f"{r['train_flops_per_second'] / 1e9:.1f}",
            f"{r['matmul_flops_per_second'] / 1e9:.1f}", f"{r['flops_ratio']:.2f}", f"{r['eval_flops_ratio']:.2f}",
            f"{r['peak_rss_bytes'] / 1024**2:.0f}", f"{r['rounds_peak_rss_bytes'] / 1024**2:.0f}",
            _largest_mb(r["worker_peak_rss_bytes"]), _largest_mb(r["worker_rounds_peak_rss_bytes"]),
            "/".join(f"{v:.1f}" for v in r["load_average"]),
        )
    return t


def _largest_mb(values: list[int]) -> str:
    """The largest of the workers' figures (the JSON has each), or "-" without workers."""
    return f"{max(values) / 1024**2:.0f}" if values else "-"


def targets_table(checks: list[dict[str, Any]]) -> Table:
    t = Table(title="targets")
    for col in ("target", "engine", "value", "met"):
        t.add_column(col)
    for c in checks:
        values = c["values"]
        spread = f" (median of {len(values)} runs, {min(values):.3g} to {max(values):.3g})" if len(values) > 1 else ""
        t.add_row(c["target"], c["engine"], f"{c['value']:.3g}{spread}", "yes" if c["met"] else "NO")
    return t
