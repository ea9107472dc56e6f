"""One FML training step of the cnn on one thread: fp32, bf16 autocast, and bf16 autocast with
the first convolution kept in fp32. What bf16 gains where nothing else shares the step.

Usage:
    python benchmarks/bf16_step.py [--batch 64] [--steps 40] [--layout channels_last|contiguous]

A step is the local model's and the meme's forward on the same batch, FML's two losses
(``fl.objectives``, alpha = beta = 0.5), one backward and an SGD-with-momentum step, as the
sequential and parallel engines take it. The three arms are timed in turns in this one process,
after 5 warm-up steps each, so that a shared machine's drifting load falls on each alike; prints
each arm's median milliseconds, its speedup over fp32 and its minor page faults a step.

Why the third arm: the cnn's first convolution has one input channel, and a profile once
suggested that it runs slower in bf16 than in fp32. Measured here, keeping it in fp32 gains
nothing (README, "Engines, precision and the benchmark").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from fmlpipe.fl.modelpool import fast_layout
from fmlpipe.fl.objectives import cross_entropy, kl_to_peer
from fmlpipe.models.cnn import FedAvgCNN

ARMS = ("fp32", "bf16", "bf16, conv1 in fp32")


class OutsideAutocast(nn.Module):
    """A convolution that runs in fp32, outside autocast, while ``on`` (the third arm)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv, self.on = conv, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=not self.on and torch.is_autocast_enabled("cpu")):
            out: torch.Tensor = self.conv(x)
        return out


def stepper(batch: int, layout: str) -> Callable[[str], None]:
    """A function that takes one FML step in the arm it is given."""
    torch.manual_seed(0)
    local, meme = FedAvgCNN((1, 28, 28), 10), FedAvgCNN((1, 28, 28), 10)
    firsts = [OutsideAutocast(local.conv1), OutsideAutocast(meme.conv1)]
    local.conv1, meme.conv1 = firsts  # type: ignore[assignment]  # FedAvgCNN.forward itself, conv1 switchable
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    if layout == "channels_last":
        local, meme = fast_layout(local), fast_layout(meme)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD([*local.parameters(), *meme.parameters()], lr=0.01, momentum=0.9)

    def step(arm: str) -> None:
        optimizer.zero_grad(set_to_none=True)
        for first in firsts:
            first.on = arm == "bf16, conv1 in fp32"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arm != "fp32"):
            a, b = local(x), meme(x)
        loss_local = 0.5 * cross_entropy(a, y) + 0.5 * kl_to_peer(a, b)
        loss_meme = 0.5 * cross_entropy(b, y) + 0.5 * kl_to_peer(b, a)
        (loss_local + loss_meme).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--layout", choices=("channels_last", "contiguous"), default="channels_last")
    args = parser.parse_args()
    if args.batch < 2 or args.steps < 1:
        parser.error(f"--batch must be at least 2 and --steps at least 1 (got {args.batch}, {args.steps})")
    torch.set_num_threads(1)
    step = stepper(args.batch, args.layout)
    for arm in ARMS:
        for _ in range(5):
            step(arm)
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    faults = dict.fromkeys(ARMS, 0)
    for _ in range(args.steps):
        for arm in ARMS:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            step(arm)
            times[arm].append(time.perf_counter() - start)
            faults[arm] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    median = {arm: statistics.median(t) * 1e3 for arm, t in times.items()}
    print(f"one FML step of the cnn, batch {args.batch}, {args.layout}, one thread, {args.steps} steps an arm")
    for arm in ARMS:
        print(f"  {arm:<20} {median[arm]:7.1f} ms   {median['fp32'] / median[arm]:.2f}x fp32   "
              f"{faults[arm] / args.steps:7.0f} page faults a step")


if __name__ == "__main__":
    main()
