"""Measure how evaluation spends its time: batch size and threads, for the cnn on 10k images.

Usage:
    python benchmarks/eval_batches.py [--images 10000] [--reps 8] [--precision fp32|bf16]

For each way of evaluating (``fmlpipe.fl.evaluate.evaluate`` as it is, and its batches run on
this thread with every intra-op thread; each at 256 and 512 images a batch), prints the median
and best wall seconds and the page faults and system seconds per evaluation. The ways are
timed in turns in this one process, so that a shared machine's drifting load falls on each alike.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

import fmlpipe.fl.evaluate as evaluation
from fmlpipe.models.cnn import FedAvgCNN


@contextmanager
def setting(batch: int, threads: bool) -> Iterator[None]:
    """``evaluate`` with ``batch`` images a batch; ``threads``: its batches spread over a
    single-threaded worker per core, else all on this thread with every intra-op thread."""
    names = vars(evaluation)  # map_single_threaded is patched where evaluate() looks it up
    saved = evaluation.EVAL_BATCH, names["map_single_threaded"]
    evaluation.EVAL_BATCH = batch
    if not threads:
        names["map_single_threaded"] = lambda work, items: [work(item) for item in items]
    try:
        yield
    finally:
        evaluation.EVAL_BATCH, names["map_single_threaded"] = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = FedAvgCNN((1, 28, 28), 10)
    x, y = torch.rand(args.images, 1, 28, 28), torch.randint(0, 10, (args.images,))
    ways: dict[tuple[int, bool], Callable[[], None]] = {
        (batch, threads): functools.partial(run, model, x, y, batch, threads, args.precision)
        for batch in (256, 512) for threads in (True, False)}
    seconds: dict[tuple[int, bool], list[float]] = {way: [] for way in ways}
    faults: dict[tuple[int, bool], list[tuple[int, float]]] = {way: [] for way in ways}
    for evaluate in ways.values():
        evaluate()  # warm up
    for _ in range(args.reps):
        for way, evaluate in ways.items():
            seconds[way].append(timed(evaluate, faults[way]))
    print(f"cnn in {args.precision}, {args.images} images, {torch.get_num_threads()} intra-op threads, "
          f"{args.reps} turns")
    print(f"{'batch':>5} {'threads':<28} {'median s':>8} {'best s':>7} {'faults':>8} {'sys s':>6}")
    for (batch, threads), values in seconds.items():
        how = "a single-threaded worker/core" if threads else "this thread, all intra-op"
        count = statistics.median(f for f, _ in faults[(batch, threads)])
        system = statistics.median(s for _, s in faults[(batch, threads)])
        median = statistics.median(values)
        print(f"{batch:>5} {how:<28} {median:>8.3f} {min(values):>7.3f} {count:>8.0f} {system:>6.3f}")


def run(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, threads: bool,
        precision: str) -> None:
    with setting(batch, threads):
        evaluation.evaluate(model, x, y, precision)


def timed(evaluate: Callable[[], None], faults: list[tuple[int, float]]) -> float:
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    evaluate()
    elapsed, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    faults.append((after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime))
    return elapsed


if __name__ == "__main__":
    main()
