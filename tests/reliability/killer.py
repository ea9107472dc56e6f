"""Run ``fmlpipe run-stage train`` and SIGKILL it at a chosen point (a real ``kill -9``, sent by
the process to itself at a precise moment rather than after a guessed delay).

    python -m tests.reliability.killer POINT N -- <fmlpipe args>

POINT: ``round`` (after the clients of round N trained, before aggregation), ``checkpoint``
(the N-th checkpoint's temp file written, not yet renamed over the old one), ``evaluation``
(during the N-th evaluation).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from safetensors.torch import save_file


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    point, nth = sys.argv[1], int(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]
    import fmlpipe.fl.simulation as simulation
    import fmlpipe.train.checkpoint as checkpoint
    from fmlpipe.fl.backend import LocalBackend
    from fmlpipe.io import atomic_path

    calls = {"n": 0}

    def nth_call(real: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            calls["n"] += 1
            result = real(*a, **kw)
            if calls["n"] == nth:
                die()
            return result

        return wrapper

    if point == "round":
        LocalBackend.train = nth_call(LocalBackend.train)  # type: ignore[method-assign]
    elif point == "evaluation":
        real_eval = simulation.evaluate_round

        def evaluating(*a: Any, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == nth:
                real_eval(*a, **kw)  # the work is done, the results not yet kept
                die()
            return real_eval(*a, **kw)

        simulation.evaluate_round = evaluating
    elif point == "checkpoint":
        real_write = checkpoint.write_tensors

        def half_written(path: Any, tensors: Any, metadata: Any = None) -> None:
            calls["n"] += 1
            if calls["n"] < nth:
                return real_write(path, tensors, metadata)
            with atomic_path(path) as tmp:
                save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
                die()

        checkpoint.write_tensors = half_written
    else:
        raise SystemExit(f"unknown point {point!r}")
    from fmlpipe.cli import app

    app(args)


if __name__ == "__main__":
    main()
