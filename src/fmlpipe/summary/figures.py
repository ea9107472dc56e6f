"""The summary's figures as PNG bytes: accuracy by round per variant (seeds pooled: mean and a
one-std band), the scheduled alpha/beta, and the clients no variant singles out (catfish)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from matplotlib.axes import Axes

from fmlpipe.evaluate.figures import new_figure, png_bytes
from fmlpipe.summary.collect import VariantRun


def _panel(ax: Axes, runs: Sequence[VariantRun], series: Callable[[VariantRun], dict[int, float]], title: str,
           ylabel: str, percent: bool = True) -> None:
    """One line per (variant group, algorithm): the mean over its seeds, with a band of one
    sample standard deviation where there are several."""
    groups: dict[str, list[dict[int, float]]] = {}
    for run in runs:
        points = series(run)
        if points:
            groups.setdefault(f"{run.group}/{run.algorithm}", []).append(points)
    scale = 100 if percent else 1
    for i, (label, members) in enumerate(groups.items()):
        rounds = sorted(set.intersection(*(set(m) for m in members)))
        values = [[scale * m[r] for m in members] for r in rounds]
        mean = [statistics.fmean(v) for v in values]
        color, style = f"C{i % 10}", "-" if i < 10 else "--"
        seeds = f" ({len(members)} seeds)" if len(members) > 1 else ""
        ax.plot(rounds, mean, color=color, linestyle=style, label=f"{label}{seeds}")
        if len(members) > 1:
            spread = [statistics.stdev(v) for v in values]
            ax.fill_between(rounds, [m - d for m, d in zip(mean, spread)], [m + d for m, d in zip(mean, spread)],
                            color=color, alpha=0.12, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    # the default AutoLocator is a MaxNLocator; the stubs know only the base Locator
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    ax.grid(alpha=0.3)


def _legend(ax: Axes) -> None:
    if ax.get_lines():  # a panel can be empty: no FML run to plot alpha for, no client singled out
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def by_round_png(runs: Sequence[VariantRun]) -> bytes:
    """Personalized mean and global test accuracy by round, one line per variant and algorithm."""
    fig = new_figure(13.0, 4.8)
    left, right = fig.subplots(1, 2)
    _panel(left, runs, lambda r: {p.round: p.acc_personalized_mean for p in r.record.history
                                  if p.acc_personalized_mean is not None},
           "Personalized accuracy (mean over clients)", "accuracy (%)")
    _panel(right, runs, lambda r: {p.round: p.acc_global_test for p in r.record.history
                                   if p.acc_global_test is not None}, "Global model, global test set", "accuracy (%)")
    _legend(right)
    return png_bytes(fig)


def balance_png(runs: Sequence[VariantRun]) -> bytes:
    """FML's alpha and beta in force each round, per variant."""
    fml = [r for r in runs if r.balance]
    fig = new_figure(13.0, 4.2)
    left, right = fig.subplots(1, 2)
    _panel(left, fml, lambda r: {k: v[0] for k, v in r.balance.items()}, "alpha (CE weight, local model)",
           "alpha", percent=False)
    _panel(right, fml, lambda r: {k: v[1] for k, v in r.balance.items()}, "beta (CE weight, meme)", "beta",
           percent=False)
    _legend(right)
    return png_bytes(fig)


def others_png(runs: Sequence[VariantRun]) -> bytes:
    """The personalized accuracy of the clients without a local override, per variant."""
    fig = new_figure(9.5, 4.5)
    ax = fig.add_subplot()
    _panel(ax, runs, lambda r: r.others, "Clients no variant singles out: personalized accuracy", "accuracy (%)")
    _legend(ax)
    return png_bytes(fig)
