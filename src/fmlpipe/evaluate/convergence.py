"""Whether a run's training levelled off, judged from the per-round train losses and learning
rates it logged (``rounds.csv``) with the check of ``stats.convergence``. The evaluate stage
judges it, so changing ``convergence`` in params re-judges every run without re-training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fmlpipe.config.schema import ConvergenceParams
from fmlpipe.metrics import LR, Row, train_loss_models, train_loss_name
from fmlpipe.stats.convergence import Convergence, check_many, stretch_ends_from_lrs


def training_convergence(rounds: Sequence[Row], params: ConvergenceParams) -> dict[str, Convergence]:
    """Whether each model's mean train loss levelled off in every stretch of one learning rate;
    ``rounds``: one row per round, in order, with ``lr`` and a ``train_loss_<model>`` per model."""
    if not rounds:
        raise ValueError("no rounds to judge")
    lrs = [float(row[LR]) for row in rounds]
    series = {model: [float(row[train_loss_name(model)]) for row in rounds] for model in train_loss_models(rounds[0])}
    return check_many(series, stretch_ends_from_lrs(lrs), params.window, params.tolerance)


def convergence_line(checks: Mapping[str, Convergence]) -> str:
    """One line for the whole run: the first model that did not level off, else the first model."""
    name, check = next(((n, c) for n, c in checks.items() if not c.converged), next(iter(checks.items())))
    return f"{name} model {check.describe()}" if len(checks) > 1 else check.describe()
