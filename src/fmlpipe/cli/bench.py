"""``fmlpipe bench``: measure the simulation engines on the real Fashion-MNIST."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from fmlpipe.bench.settings import BACKENDS, COMPILES, ENGINES, PRECISIONS, SETTINGS, cases
from fmlpipe.cli.errors import reported
from fmlpipe.errors import ParamsError


def _names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ParamsError(f"{option}={value!r}: expected a comma-separated list of {', '.join(allowed)}")
    return names


def _progress(r: dict[str, Any], repeats: int) -> str:
    """The line printed as a case finishes."""
    run = f" (run {r['repeat'] + 1} of {repeats})" if repeats > 1 else ""
    compiled = f" compile={r['compile']}" if r["compile"] != "auto" else ""
    return (f"{r['setting']} {r['algorithm']} {r['backend']} {r['engine']} {r['precision']}{compiled}{run}: "
            f"{r['train_seconds_per_round']:.2f} s/round training")


def bench(
    ctx: typer.Context,
    settings: Annotated[str, typer.Option(
        "--settings", help="Comma-separated settings: A (FML, 20 Dirichlet(0.1) clients, batch 10), "
                           "B (the same at batch 64), scale (1,000 clients, 10% per round, FedAvg and FML), "
                           "default (the default pipeline of --params: one case per algorithm).")]
        = "A,B,scale",
    rounds: Annotated[int, typer.Option(
        "--rounds", min=1, help="Rounds per case. Per-round figures are means over the rounds after the first, "
                                "which also pays one-time costs (compiling) and is reported on its own.")] = 2,
    repeats: Annotated[int, typer.Option(
        "--repeats", min=1, help="Runs of every case, a case's precisions and backends in turns each time (fp32, "
                                 "bf16, fp32, bf16, ...): each target is then the median over the runs, shown with "
                                 "their range (a shared machine's speed drifts between runs).")] = 1,
    engines: Annotated[str, typer.Option("--engines", help="Comma-separated engines to measure.")]
        = ",".join(ENGINES),
    json_path: Annotated[Path, typer.Option("--json", help="Where to write the results as JSON.")]
        = Path("bench.json"),
    data_fraction: Annotated[float, typer.Option(
        "--data-fraction", help="Share of the 60k Fashion-MNIST training images to use, in (0, 1] "
                                "(1.0 for the real benchmark).")] = 1.0,
    model: Annotated[str, typer.Option(
        # Spelled out rather than read from models.registry, which would import torch for --help;
        # tests/bench checks that it names every registered model.
        "--model", help="The architecture of every model (the targets are checked for cnn only): "
                        "mlp, cnn, cnn_same, lenet5, resnet8.")] = "cnn",
    precision: Annotated[str, typer.Option(
        "--precision", help="Comma-separated precisions to measure every case in: fp32, bf16 (bf16 needs native "
                            "bf16 hardware).")] = "fp32",
    compile: Annotated[str, typer.Option(
        "--compile", help="Comma-separated federation.compile values to measure every case with: auto, off, on "
                          "(torch.compile the vectorized engine's step), graphs (on, replayed as CUDA graphs; "
                          "CUDA only). on and graphs need --engines vectorized.")] = "auto",
    params: Annotated[Path, typer.Option("--params", help="default setting: the project's params file.")]
        = Path("params.yaml"),
    backends: Annotated[str, typer.Option(
        "--backends", help="Comma-separated backends to measure every case on: local (this process), ray (a local "
                           "Ray instance, or the cluster at RAY_ADDRESS, with --workers one-CPU workers, each "
                           "running the case's engine).")] = "local",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Ray backend: worker actors.")] = 2,
    clients: Annotated[int, typer.Option("--clients", min=1, hidden=True, help="Clients in A and B.")] = 20,
    scale_clients: Annotated[int, typer.Option("--scale-clients", min=10, hidden=True,
                                               help="Clients in the scale setting.")] = 1000,
) -> None:
    """Time the engines (sequential, parallel, vectorized), locally or on Ray workers: seconds per
    round, samples/s, FLOP/s against the machine's matmul FLOP/s, and peak memory (the driver's
    and each Ray worker's); print a table and the targets, write JSON."""
    # Imported here: they load torch and torchvision, which every other command (and the
    # start of `fmlpipe run-stage`, which DVC pays once per stage) would otherwise wait for.
    import torch

    from fmlpipe.bench.report import TARGET_MODEL, table, targets, targets_table
    from fmlpipe.bench.runner import run_all
    from fmlpipe.machine import describe
    from fmlpipe.models.registry import MODELS

    with reported(ctx):
        if not 0.0 < data_fraction <= 1.0:
            raise ParamsError(f"--data-fraction={data_fraction}: must be in (0, 1]")
        if model not in MODELS:
            raise ParamsError(f"--model={model!r} is not a known model (allowed: {', '.join(MODELS)})")
        chosen = _names(settings, SETTINGS, "--settings")
        if "default" in chosen and not params.is_file():
            raise ParamsError(f"--params {params}: not found (the default setting measures that params file's "
                              "pipeline)")
        measured = _names(engines, ENGINES, "--engines")
        compiles = tuple(_names(compile, COMPILES, "--compile"))
        if {"on", "graphs"} & set(compiles) and "vectorized" not in measured:
            raise ParamsError(f"--compile={compile!r}: on and graphs compile the vectorized engine's step, and "
                              f"--engines={engines!r} has no vectorized")
        if "graphs" in compiles and not torch.cuda.is_available():
            raise ParamsError("--compile=graphs replays the step as CUDA graphs, and no CUDA device is available "
                              "(allowed here: auto, off, on)")
        todo = cases(chosen, measured, rounds, data_fraction, clients, scale_clients,
                     model, tuple(_names(precision, PRECISIONS, "--precision")), str(params),
                     tuple(_names(backends, BACKENDS, "--backends")), workers, repeats, compiles)
        console = Console(width=240)  # the table has 19 columns; a pipe or a log must not squeeze it
        results = run_all(todo, on_result=lambda r: console.print(_progress(r, repeats)))
        checks = targets(results)
        console.print(table(results))
        if checks:
            console.print(targets_table(checks))
        elif all(r["model"] != TARGET_MODEL for r in results):
            console.print(f"no targets checked: they are set for the {TARGET_MODEL}")
        else:
            console.print("no targets checked: none applies to these cases alone (a Ray case is held against the "
                          "local parallel engine's, bf16 against fp32)")
        json_path.write_text(json.dumps({"machine": describe(), "cases": results, "targets": checks}, indent=2) + "\n")
        console.print(f"wrote {json_path}")
