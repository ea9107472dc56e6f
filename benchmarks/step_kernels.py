"""Where one FML training step of the cnn spends its time, by oneDNN's own clock: each
convolution's forward, input-gradient and weight-gradient kernels in fp32 and in bf16 autocast,
and the rest of the step, on one thread.

Usage:
    python benchmarks/step_kernels.py [--batch 64] [--steps 30] [--blocks 3]

The step is ``bf16_step.py``'s (both models, both losses, fused SGD with momentum and weight
decay, channels-last as the engines train). Its wall time is the median step, timed in blocks of
``--steps`` steps, fp32 and bf16 in turns (``--blocks`` each), so that a shared machine's drifting
load falls on both alike and each block's memory settles. The convolutions' times are what
oneDNN's verbose log reports for each kernel it ran, over ``--steps`` further steps of each arm,
per step, and so are its reorders of weights and data between layouts. The rest of the step is the
wall time less those: the linear layers (oneDNN's matmuls in bf16, MKL's in fp32, which its log
does not show), pooling, the losses, autocast's casts, the optimizer and autograd.

Why not torch.profiler: on this project's AMD EPYC machine it slowed a bf16 step by 7-26 ms
(31 ms without it) and put most of the slowdown into the pooling kernel's backward, which takes
0.1-0.5 ms when timed around its call; the fp32 step it left alone. Read through the profiler, the
first convolution looked slower in bf16 than in fp32; oneDNN's log says the opposite.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from bf16_step import autocast_stepper, models
from torch import nn

ARMS = ("fp32", "bf16")
PASSES = {"forward_training": "forward", "backward_data": "input gradient", "backward_weights": "weight gradient"}


@dataclass(frozen=True)
class Kernel:
    """One kernel run from oneDNN's verbose log."""

    primitive: str  # convolution, matmul, reorder, ...
    propagation: str  # forward_training, backward_data, backward_weights, undef
    problem: str  # e.g. mb64_ic1oc32_ih28oh24kh5sh1dh0ph0_iw28ow24kw5sw1dw0pw0
    ms: float


def parse_verbose(text: str) -> list[Kernel]:
    """The kernels that ``text``, oneDNN's verbose output, says ran: its ``exec`` lines, whose
    fields after ``exec`` are engine, primitive, implementation, propagation, ..., and whose last
    two are the problem and the milliseconds (oneDNN 2.x and 3.x alike)."""
    kernels = []
    for line in text.splitlines():
        fields = line.strip().split(",")
        if not fields[0].startswith(("onednn_verbose", "dnnl_verbose")) or "exec" not in fields:
            continue
        at = fields.index("exec")
        if len(fields) < at + 7:
            continue
        try:
            ms = float(fields[-1])
        except ValueError:
            continue
        kernels.append(Kernel(fields[at + 2], fields[at + 4], fields[-2], ms))
    return kernels


def conv_layer(problem: str, convs: dict[str, nn.Conv2d]) -> str | None:
    """Which of ``convs`` a convolution ``problem`` descriptor (``mb64_ic1oc32_...``) is, by its
    input and output channels."""
    found = re.search(r"(?:^|_)(?:g\d+)?ic(\d+)oc(\d+)_", problem)
    if found is None:
        return None
    channels = int(found[1]), int(found[2])
    return next((name for name, conv in convs.items() if (conv.in_channels, conv.out_channels) == channels), None)


def logged(run: Callable[[], None]) -> str:
    """What oneDNN's verbose mode writes to the process's standard output while ``run`` runs."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):  # type: ignore[no-untyped-call]
                run()
            libc.fflush(None)  # oneDNN prints through C's buffered stdout
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode(errors="replace")


def conv_ms(kernels: list[Kernel], convs: dict[str, nn.Conv2d], steps: int) -> dict[tuple[str, str], float]:
    """Milliseconds a step in each (layer, pass) of ``convs``."""
    total: dict[tuple[str, str], float] = defaultdict(float)
    for k in kernels:
        layer = conv_layer(k.problem, convs) if k.primitive == "convolution" else None
        if layer is not None and k.propagation in PASSES:
            total[layer, PASSES[k.propagation]] += k.ms / steps
    return dict(total)


def reorder_ms(kernels: list[Kernel], steps: int) -> float:
    """Milliseconds a step that oneDNN spent reordering data and weights between layouts."""
    return sum(k.ms for k in kernels if k.primitive == "reorder") / steps


def repeat(step: Callable[[str], None], arm: str, steps: int) -> None:
    """``steps`` steps of ``arm``."""
    for _ in range(steps):
        step(arm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()
    if args.batch < 2 or args.steps < 1 or args.blocks < 1:
        parser.error(f"--batch must be at least 2, --steps and --blocks at least 1 "
                     f"(got {args.batch}, {args.steps}, {args.blocks})")
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        sys.exit("step_kernels.py: this PyTorch was built without oneDNN, whose log it reads")
    torch.set_num_threads(1)
    x = torch.rand(args.batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))
    pair = models("channels_last")
    convs = {name: m for name, m in pair[0].named_modules() if isinstance(m, nn.Conv2d)}  # before wrapping
    step = autocast_stepper(x, y, "channels_last", pair)
    for arm in ARMS:
        for _ in range(5):
            step(arm)
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(args.blocks):
        for arm in ARMS:
            for _ in range(args.steps):
                start = time.perf_counter()
                step(arm)
                times[arm].append((time.perf_counter() - start) * 1e3)
    wall = {arm: statistics.median(t) for arm, t in times.items()}
    convs_ms, reorders = {}, {}
    for arm in ARMS:
        kernels = parse_verbose(logged(functools.partial(repeat, step, arm, args.steps)))
        convs_ms[arm], reorders[arm] = conv_ms(kernels, convs, args.steps), reorder_ms(kernels, args.steps)
        if not convs_ms[arm]:
            sys.exit("step_kernels.py: oneDNN's verbose log named no convolution kernel; nothing to report")

    print(f"one FML step of the cnn, batch {args.batch}, channels-last, one thread; ms a step "
          f"(wall: median of {args.blocks} blocks of {args.steps} steps an arm, in turns)")
    print(f"  {'':<28} {'fp32':>8} {'bf16':>8} {'speedup':>8}")

    def row(label: str, a: float, b: float) -> None:
        print(f"  {label:<28} {a:8.2f} {b:8.2f} {a / b if b else float('nan'):7.2f}x")

    for key in sorted(set(convs_ms["fp32"]) | set(convs_ms["bf16"])):
        row(f"{key[0]} {key[1]}", convs_ms["fp32"].get(key, 0.0), convs_ms["bf16"].get(key, 0.0))
    conv_total = {arm: sum(convs_ms[arm].values()) for arm in ARMS}
    row("convolutions", conv_total["fp32"], conv_total["bf16"])
    row("oneDNN's layout reorders", reorders["fp32"], reorders["bf16"])
    rest = {arm: wall[arm] - conv_total[arm] - reorders[arm] for arm in ARMS}
    row("the rest of the step", rest["fp32"], rest["bf16"])
    row("whole step (wall)", wall["fp32"], wall["bf16"])


if __name__ == "__main__":
    main()
