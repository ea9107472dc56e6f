"""What a finished run records about its training: every model's train loss checked for
levelling off before each lr decay and at the end (constructed loss histories)."""

from __future__ import annotations

from fmlpipe.config.schema import ConvergenceParams
from fmlpipe.fl.simulation import RunState
from fmlpipe.metrics import LR, ROUND, train_loss_name
from fmlpipe.train.outputs import convergence_line, training_convergence

PARAMS = ConvergenceParams(window=2, tolerance=0.05, min_delta=0.0)


def _state(local: list[float], meme: list[float], lrs: list[float]) -> RunState:
    rows = [{ROUND: r + 1, LR: lr, train_loss_name("local"): a, train_loss_name("meme"): b}
            for r, (a, b, lr) in enumerate(zip(local, meme, lrs))]
    return RunState(round=len(rows), rounds_log=rows)


def test_every_model_and_every_stretch_must_level_off() -> None:
    flat = [1.0, 0.6, 0.52, 0.51, 0.505, 0.5]  # last two rounds 0.5025 against 0.515: -2.4%
    falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]  # 0.55 against 0.75: still falling 26.7%
    checks = training_convergence(_state(flat, flat, [0.01] * 6), PARAMS)
    assert list(checks) == ["local", "meme"] and all(c.converged for c in checks.values())
    checks = training_convergence(_state(flat, falling, [0.01] * 6), PARAMS)
    assert checks["local"].converged and not checks["meme"].converged
    assert convergence_line(checks).startswith("meme model under-trained: train loss still falling 26.7%")


def test_a_stretch_cut_short_by_the_lr_decay_makes_the_run_under_trained() -> None:
    # lr x0.1 after round 4: rounds 1-4 fall 0.9 -> 0.6 (mean 0.65 against 0.85), the tail is flat
    losses = [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5]
    lrs = [0.01] * 4 + [0.001] * 4
    checks = training_convergence(_state(losses, losses, lrs), PARAMS)
    assert [c.end for c in checks["local"].checks] == [4, 8]
    assert [c.levelled for c in checks["local"].checks] == [False, True]
    assert not checks["local"].converged
    assert "before the lr decay after round 4" in convergence_line(checks)
