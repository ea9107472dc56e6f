"""The report's figures as PNG bytes (matplotlib's Agg canvas, no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fmlpipe.evaluate.runs import RunRecord

# Up to this many clients, one group of bars per client; beyond, a box and points per algorithm.
MAX_GROUPED_CLIENTS = 30


def png_bytes(fig: Figure) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def accuracy_by_round_png(runs: Sequence[RunRecord]) -> bytes:
    """Mean personalized accuracy per round (solid) and the global model's test accuracy (dashed),
    one colour per algorithm."""
    fig = new_figure(9.5, 4.5)
    ax = fig.add_subplot()
    marker = "o" if len(runs[0].history) <= 30 else None
    for i, run in enumerate(runs):
        color = f"C{i}"
        rounds = [p.round for p in run.history]
        measured = [p for p in run.history if p.acc_personalized_mean is not None]
        ax.plot([p.round for p in measured], [100 * (p.acc_personalized_mean or 0.0) for p in measured], color=color,
                marker=marker if len(measured) > 1 else "o",  # a single point (FedAvg-FT) shows as a dot
                label=f"{run.algorithm}: personalized (mean over clients)")
        if run.acc_global_test is not None:
            ax.plot(rounds, [100 * (p.acc_global_test or 0.0) for p in run.history], color=color,
                    linestyle="--", marker=marker, label=f"{run.algorithm}: global model, test set")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy (%)")
    # the default AutoLocator is a MaxNLocator; the stubs know only the base Locator
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes, never over a line
    ax.set_title("Accuracy by round")
    return png_bytes(fig)


def client_accuracy_png(runs: Sequence[RunRecord]) -> bytes:
    """Each client's final personalized accuracy: grouped bars per client for up to 30 clients,
    else a box with every client's point per algorithm."""
    clients = len(runs[0].final_clients)
    if clients <= MAX_GROUPED_CLIENTS:
        fig = new_figure(max(6.0, 1.0 + 0.3 * clients * len(runs) ** 0.5), 4.5)
        ax = fig.add_subplot()
        width = 0.8 / len(runs)
        x = np.arange(clients)
        for i, run in enumerate(runs):
            ax.bar(x + (i - (len(runs) - 1) / 2) * width, [100 * a for a in run.final_clients], width,
                   color=f"C{i}", label=run.algorithm)
        ax.set_xticks(x)
        ax.set_xlabel("client")
        ax.legend(fontsize=8, ncols=min(len(runs), 4))
    else:
        fig = new_figure(max(5.0, 1.5 * len(runs) + 2.0), 4.5)
        ax = fig.add_subplot()
        values = [[100 * a for a in run.final_clients] for run in runs]
        ax.boxplot(values, showfliers=False, medianprops={"color": "black"})
        # Seeded horizontal jitter: the same runs always give the same picture.
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, clients)
        for i, vals in enumerate(values):
            ax.scatter(i + 1 + jitter, vals, s=8, alpha=0.5, color=f"C{i}")
        ax.set_xticks(np.arange(1, len(runs) + 1), [run.algorithm for run in runs])
    ax.set_ylabel("personalized accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"Final personalized accuracy per client (round {runs[0].rounds})")
    return png_bytes(fig)
