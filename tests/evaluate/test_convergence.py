"""How the evaluate stage judges a finished run's training from its ``rounds.csv``: every model's
train loss checked for levelling off before each lr decay and at the end (constructed rows)."""

from __future__ import annotations

from fmlpipe.config.schema import ConvergenceParams
from fmlpipe.evaluate.convergence import convergence_line, training_convergence
from fmlpipe.metrics import LR, ROUND, Row, train_loss_name

PARAMS = ConvergenceParams(window=2, tolerance=0.05)


def _rows(local: list[float], meme: list[float], lrs: list[float]) -> list[Row]:
    return [{ROUND: r + 1, LR: lr, train_loss_name("local"): a, train_loss_name("meme"): b}
            for r, (a, b, lr) in enumerate(zip(local, meme, lrs, strict=True))]


def test_every_model_and_every_stretch_must_level_off() -> None:
    flat = [1.0, 0.6, 0.52, 0.51, 0.505, 0.5]  # last 2 rounds fall 0.005, against 0.5 from the highest: 1%
    falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]  # 0.1 against 0.5: still falling 20%
    checks = training_convergence(_rows(flat, flat, [0.01] * 6), PARAMS)
    assert list(checks) == ["local", "meme"] and all(c.converged for c in checks.values())
    checks = training_convergence(_rows(flat, falling, [0.01] * 6), PARAMS)
    assert checks["local"].converged and not checks["meme"].converged
    assert convergence_line(checks).startswith("meme model under-trained: train loss still falling: 20.0%")
    assert convergence_line(training_convergence(_rows(flat, flat, [0.01] * 6), PARAMS)).startswith(
        "local model converged: train loss fell 1.0%")


def test_a_stretch_cut_short_by_the_lr_decay_makes_the_run_under_trained() -> None:
    # lr x0.1 after round 4: rounds 3-4 fall 0.1 against 0.3 from the highest; the tail is flat
    losses = [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5]
    lrs = [0.01] * 4 + [0.001] * 4
    checks = training_convergence(_rows(losses, losses, lrs), PARAMS)
    assert [c.end for c in checks["local"].checks] == [4, 8]
    assert [c.levelled for c in checks["local"].checks] == [False, True]
    assert not checks["local"].converged
    assert "before the lr decay after round 4" in convergence_line(checks)
