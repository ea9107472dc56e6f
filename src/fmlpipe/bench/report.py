"""The benchmark's table, its targets, and its JSON."""

from __future__ import annotations

import platform
from typing import Any

import torch
from rich.table import Table

from fmlpipe.fl.precision import NATIVE_CPU_FLAGS, cpu_flags, cpu_model

A_SECONDS = 30.0  # setting A: FML training round on the 2-core CPU
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
    keys = ("setting", "algorithm", "engine", "precision", "model", "backend")
    want = {k: fixed.get(k, r[k]) for k in keys}
    return [q for q in results if all(q[k] == v for k, v in want.items())]


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target, per engine, with the measured value and whether it is met (cnn cases only)."""
    out: list[dict[str, Any]] = []
    for r in results:
        if r["model"] != TARGET_MODEL:
            continue
        if r["backend"] == "ray":
            out += _ray_targets(r, results)
            continue
        if r["setting"] in ("A", "B") and r["precision"] == "fp32":
            out.append(_target(f"{r['setting']}: evaluation FLOP/s >= 50% of matmul", r, r["eval_flops_ratio"],
                               r["eval_flops_ratio"] >= EVAL_RATIO))
        if r["setting"] == "default":
            share = r["pipeline_eval_share"]
            out.append(_target(f"default {r['algorithm']}: evaluation <= 15% of training over the pipeline's "
                               f"{r['pipeline_rounds']} rounds", r, share, share <= EVAL_SHARE))
        if r["setting"] == "B" and r["precision"] == "bf16":
            fp32 = _same(r, results, precision="fp32")
            if fp32:
                speedup = r["train_samples_per_second"] / fp32[0]["train_samples_per_second"]
                out.append(_target("B: bf16 training samples/s >= 1.6x fp32", r, speedup, speedup >= BF16_SPEEDUP))
        if r["precision"] != "fp32":
            continue
        if r["setting"] == "A":
            out.append(_target("A: FML training s/round <= 30", r, r["train_seconds_per_round"],
                               r["train_seconds_per_round"] <= A_SECONDS))
        elif r["setting"] == "B":
            out.append(_target("B: training FLOP/s >= 50% of matmul", r, r["flops_ratio"], r["flops_ratio"] >= B_RATIO))
        elif r["setting"] == "scale":
            if r["algorithm"] == "fml":
                out.append(_target("scale: FML peak memory < 2 GB", r, r["peak_rss_bytes"] / 1024**3,
                                   r["peak_rss_bytes"] < SCALE_BYTES))
            ref = _same(r, results, setting="scale-ref")
            if ref:
                growth = r["train_seconds_per_round"] / ref[0]["train_seconds_per_round"]
                out.append(_target(f"scale: {r['algorithm']} train s/round, 10x clients / 1x (same participants)"
                                   f" <= {SCALE_GROWTH}", r, growth, growth <= SCALE_GROWTH))
    return out


def _ray_targets(r: dict[str, Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Ray backend's overhead over the local parallel engine (same case), and, at scale,
    whether the driver's memory stays clear of the personal states (FML's against FedAvg's)."""
    out: list[dict[str, Any]] = []
    local = _same(r, results, backend="local", engine="parallel")
    if r["setting"] in ("A", "B") and local:
        ratio = r["seconds_per_round"] / local[0]["seconds_per_round"]
        out.append(_target(f"{r['setting']}: Ray ({r['workers']} one-CPU workers) s/round / local parallel "
                           f"<= {RAY_OVERHEAD}", r, ratio, ratio <= RAY_OVERHEAD))
    fedavg = _same(r, results, algorithm="fedavg")
    if r["setting"] == "scale" and r["algorithm"] == "fml" and fedavg:
        growth = r["rounds_peak_rss_bytes"] / fedavg[0]["rounds_peak_rss_bytes"]
        out.append(_target(f"scale: Ray driver peak memory in the rounds, FML (personal states) / FedAvg <= "
                           f"{RAY_DRIVER_GROWTH}",
                           r, growth, growth <= RAY_DRIVER_GROWTH))
    return out


def _target(name: str, r: dict[str, Any], value: float, met: bool) -> dict[str, Any]:
    return {"target": name, "engine": _engine(r), "value": value, "met": met}


def _engine(r: dict[str, Any]) -> str:
    """The engine asked for, the one used where it differs, and the Ray workers running it."""
    engine = r["engine"] if r["engine_used"] == r["engine"] else f"{r['engine']}->{r['engine_used']}"
    engine += "+compile" if r["compiled"] else ""
    return f"ray{r['workers']}:{engine}" if r["backend"] == "ray" else engine


# The CPU features that decide which kernels run: AVX2 or AVX-512, and native bf16 (fl.precision).
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", *NATIVE_CPU_FLAGS)


def machine() -> dict[str, Any]:
    """What ran the benchmark: the same code runs other kernels on another CPU of the same kind
    (AVX2 on some machines, AVX-512 with bf16 on others), so figures compare within one CPU."""
    flags = cpu_flags()
    return {"platform": platform.platform(), "processor": platform.processor(), "cpu_model": cpu_model(),
            "cpu_flags": [f for f in KERNEL_FLAGS if f in flags], "torch": torch.__version__,
            "cpu_count": torch.multiprocessing.cpu_count(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def table(results: list[dict[str, Any]]) -> Table:
    models = ", ".join(sorted({r["model"] for r in results}))
    t = Table(title=f"fmlpipe bench (Fashion-MNIST, {models})")
    for col in ("setting", "alg", "engine", "prec", "clients", "batch", "train s/rnd", "eval s/rnd", "1st rnd s",
                "samples/s", "GFLOP/s", "matmul GFLOP/s", "ratio", "eval ratio", "peak MB", "rounds MB",
                "worker MB", "worker rounds MB", "load"):
        t.add_column(col, justify="left" if col in ("setting", "alg", "engine", "prec") else "right")
    for r in results:
        t.add_row(
            r["setting"], r["algorithm"], _engine(r), r["precision"], f"{r['participants']}/{r['num_clients']}",
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
        t.add_row(c["target"], c["engine"], f"{c['value']:.3g}", "yes" if c["met"] else "NO")
    return t
