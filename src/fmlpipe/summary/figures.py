"""The summary's figures as PNG bytes: accuracy by round per variant, the scheduled alpha/beta,
and the clients a variant did not single out (catfish)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matplotlib.axes import Axes

from fmlpipe.evaluate.figures import new_figure, png_bytes
from fmlpipe.summary.collect import VariantRun


def _panel(ax: Axes, runs: Sequence[VariantRun], series: Callable[[VariantRun], dict[int, float]], title: str,
           ylabel: str, percent: bool = True) -> None:
    for i, run in enumerate(runs):
        points = series(run)
        if not points:
            continue
        scale = 100 if percent else 1
        ax.plot(list(points), [scale * v for v in points.values()], color=f"C{i % 10}",
                linestyle="-" if i < 10 else "--", label=f"{run.variant}/{run.algorithm}")
    ax.set_title(title)
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)


def by_round_png(runs: Sequence[VariantRun]) -> bytes:
    """Personalized mean and global test accuracy by round, one line per variant and algorithm."""
    fig = new_figure(13.0, 4.8)
    left, right = fig.subplots(1, 2)
    _panel(left, runs, lambda r: {p.round: p.acc_personalized_mean for p in r.record.history},
           "Personalized accuracy (mean over clients)", "accuracy (%)")
    _panel(right, runs, lambda r: {p.round: p.acc_global_test for p in r.record.history
                                   if p.acc_global_test is not None}, "Global model, global test set", "accuracy (%)")
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
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
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)


def others_png(runs: Sequence[VariantRun]) -> bytes:
    """The personalized accuracy of the clients without a local override, per variant."""
    fig = new_figure(9.5, 4.5)
    ax = fig.add_subplot()
    _panel(ax, runs, lambda r: r.others, "Clients without a local override: personalized accuracy", "accuracy (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)
