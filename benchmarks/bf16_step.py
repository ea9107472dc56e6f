"""One FML training step of the cnn on one thread, in fp32 and four ways of bf16: plain autocast;
autocast with the first convolution kept in fp32; with the two linear layers kept in fp32; and
autocast over bf16 copies of the weights that the optimizer step refreshes (no cast in the
forward, no cast of the gradients back). What bf16 gains where nothing else shares the step.

Usage:
    python benchmarks/bf16_step.py [--batch 64] [--steps 40] [--layout channels_last|contiguous]

A step is the local model's and the meme's forward on the same batch, FML's two losses
(``fl.objectives``, alpha = beta = 0.5), one backward and an SGD step with momentum and weight
decay, as the sequential and parallel engines take it: the first four arms step with PyTorch's
fused SGD (``fl.optim.make_optimizer``), the weight copies with an update of their own. The arms
are timed in turns in this one process, after 5 warm-up steps each, so that a shared machine's
drifting load falls on each alike; prints each arm's median milliseconds, its speedup over fp32 and
its minor page faults a step.

Why the other arms: the cnn's first convolution has one input channel, and torch.profiler once
showed it slower in bf16 than in fp32 (oneDNN's own clock says otherwise: ``step_kernels.py``,
whose docstring says how the profiler misleads here); at batch 10, casting the 2 MiB weight of the
first linear layer and its gradient costs more than its matrix products; and autocast casts every
weight to bf16 in each forward and every gradient back to fp32 in each backward, which bf16 weight
copies written by the optimizer step avoid (the same values: the copy is the cast, and the fp32
gradient autocast hands the optimizer is the bf16 one, widened). Measured here, none of them beats
plain autocast by more than a few per cent (README, "Engines, precision and the benchmark"). The
weight copies train to the same bits as plain autocast stepped by PyTorch's single-tensor SGD,
whose arithmetic their update repeats; the fused SGD rounds a few weights differently, by ulps.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from fmlpipe.fl.modelpool import fast_layout
from fmlpipe.fl.objectives import cross_entropy, kl_to_peer
from fmlpipe.models.cnn import FedAvgCNN

FP32_CONV1, FP32_LINEAR, COPIES = "bf16, conv1 in fp32", "bf16, linear in fp32", "bf16 weight copies"
ARMS = ("fp32", "bf16", FP32_CONV1, FP32_LINEAR, COPIES)
LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 5e-4  # params.yaml's momentum and weight decay


class OutsideAutocast(nn.Module):
    """A layer that runs in fp32, outside autocast, while ``on``."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer, self.on = layer, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.on and torch.is_autocast_enabled("cpu")):
            out: torch.Tensor = self.layer(x)
            return out
        with torch.autocast("cpu", enabled=False):
            out = self.layer(x.float())
        return out


def models(layout: str) -> tuple[FedAvgCNN, FedAvgCNN]:
    """The local model and the meme, initialized alike in every arm."""
    torch.manual_seed(0)
    pair = FedAvgCNN((1, 28, 28), 10), FedAvgCNN((1, 28, 28), 10)
    if layout == "channels_last":
        for model in pair:
            fast_layout(model)  # in place
    return pair


def fml_loss(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    loss_local = 0.5 * cross_entropy(a, y) + 0.5 * kl_to_peer(a, b)
    loss_meme = 0.5 * cross_entropy(b, y) + 0.5 * kl_to_peer(b, a)
    return loss_local + loss_meme


def autocast_stepper(x: torch.Tensor, y: torch.Tensor, layout: str,
                     pair: tuple[FedAvgCNN, FedAvgCNN] | None = None, fused: bool = True) -> Callable[[str], None]:
    """One FML step of ``pair`` (new models by default) in fp32 or under autocast, some layers
    switchable to fp32 (the first four arms); SGD fused as the engines' (``fused``) or
    PyTorch's single-tensor update."""
    local, meme = pair or models(layout)
    switches = {FP32_CONV1: ["conv1"], FP32_LINEAR: ["fc1", "head"]}
    wrapped: dict[str, list[OutsideAutocast]] = {arm: [] for arm in switches}
    for model in (local, meme):  # FedAvgCNN.forward itself, its layers switchable
        for arm, names in switches.items():
            for name in names:
                layer = OutsideAutocast(getattr(model, name))
                setattr(model, name, layer)
                wrapped[arm].append(layer)
    optimizer = torch.optim.SGD([*local.parameters(), *meme.parameters()], lr=LR, momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY, fused=fused)

    def step(arm: str) -> None:
        optimizer.zero_grad(set_to_none=True)
        for switched, layers in wrapped.items():
            for layer in layers:
                layer.on = arm == switched
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arm != "fp32"):
            loss = fml_loss(local(x), meme(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()

    return step


def copies_stepper(x: torch.Tensor, y: torch.Tensor, layout: str,
                   pair: tuple[FedAvgCNN, FedAvgCNN] | None = None) -> Callable[[str], None]:
    """One FML step under autocast over bf16 copies of the weights of ``pair`` (new models by
    default), which the SGD step refreshes and writes back to ``pair``."""
    pair = pair or models(layout)
    names = [[name for name, _ in model.named_parameters()] for model in pair]
    masters = [[p.detach() for p in model.parameters()] for model in pair]
    copies = [[p.to(torch.bfloat16).requires_grad_() for p in ps] for ps in masters]
    momenta: list[list[torch.Tensor | None]] = [[None] * len(ps) for ps in masters]

    def step(_: str) -> None:
        for c in (c for cs in copies for c in cs):
            c.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a, b = (functional_call(m, dict(zip(n, cs)), (x,)) for m, n, cs in zip(pair, names, copies))
            loss = fml_loss(a, b, y)
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():  # torch.optim.SGD's single-tensor update, the bf16 gradient widened
            for ps, cs, ms in zip(masters, copies, momenta):
                for i, (p, c) in enumerate(zip(ps, cs)):
                    assert c.grad is not None
                    grad = c.grad.float().add_(p, alpha=WEIGHT_DECAY)
                    buf = ms[i]
                    if buf is None:
                        buf = ms[i] = grad
                    else:
                        buf.mul_(MOMENTUM).add_(grad)
                    p.add_(buf, alpha=-LR)
                    c.copy_(p)

    return step


def copies_equal_autocast(x: torch.Tensor, y: torch.Tensor, layout: str, steps: int = 5) -> bool:
    """Whether ``steps`` steps over weight copies leave the very weights that plain autocast's
    do, stepped by the single-tensor SGD whose arithmetic the copies' update repeats."""
    plain, copied = models(layout), models(layout)
    plain_step, copies_step = autocast_stepper(x, y, layout, plain, fused=False), copies_stepper(x, y, layout, copied)
    for _ in range(steps):
        plain_step("bf16")
        copies_step(COPIES)
    plain_weights = [p for m in plain for p in m.parameters()]
    return all(torch.equal(p, q) for p, q in zip(plain_weights, (q for m in copied for q in m.parameters())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--layout", choices=("channels_last", "contiguous"), default="channels_last")
    args = parser.parse_args()
    if args.batch < 2 or args.steps < 1:
        parser.error(f"--batch must be at least 2 and --steps at least 1 (got {args.batch}, {args.steps})")
    torch.set_num_threads(1)
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    if args.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    autocast_step, copies_step = autocast_stepper(x, y, args.layout), copies_stepper(x, y, args.layout)
    steps = {arm: copies_step if arm == COPIES else autocast_step for arm in ARMS}
    for arm in ARMS:
        for _ in range(5):
            steps[arm](arm)
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    faults = dict.fromkeys(ARMS, 0)
    for _ in range(args.steps):
        for arm in ARMS:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            steps[arm](arm)
            times[arm].append(time.perf_counter() - start)
            faults[arm] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    median = {arm: statistics.median(t) * 1e3 for arm, t in times.items()}
    print(f"one FML step of the cnn, batch {args.batch}, {args.layout}, one thread, {args.steps} steps an arm")
    for arm in ARMS:
        print(f"  {arm:<20} {median[arm]:7.1f} ms   {median['fp32'] / median[arm]:.2f}x fp32   "
              f"{faults[arm] / args.steps:7.0f} page faults a step")
    same = copies_equal_autocast(x, y, args.layout)
    print(f"weight copies train to the same bits as plain autocast (5 steps): {same}")


if __name__ == "__main__":
    main()
