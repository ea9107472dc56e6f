"""One-file checkpoint of a run after a round: global and personalized states as safetensors,
the logs as JSON metadata, written atomically. Resuming from it reproduces an uninterrupted run
bit for bit, because every random draw derives from (seed, round, client). A stage writes one
when :func:`checkpoint_due` says so (``execution.checkpoint_seconds``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

from fmlpipe.fl.protocol import State
from fmlpipe.fl.simulation import RunState
from fmlpipe.io import remove_stale_temps, write_tensors

_LOGS = ("rounds_log", "history", "client_rows")


def checkpoint_due(rnd: int, rounds: int, elapsed: float, every_seconds: float) -> bool:
    """Whether round ``rnd`` of ``rounds`` ends with a checkpoint, ``elapsed`` seconds after the
    last one (or the stage's start): the last round always does, any other once ``every_seconds``
    have passed. A checkpoint of a large federation costs a tenth of a second or more (every
    client's model and optimizer state, written and synced), so each round's would be a large
    share of a short round."""
    return rnd >= rounds or elapsed >= every_seconds


def save_checkpoint(path: Path, state: RunState, personal: Iterable[tuple[int, State]], fingerprint: str) -> None:
    tensors = {f"global/{k}": v for k, v in (state.global_state or {}).items()}
    for cid, client_state in personal:
        tensors.update({f"personal/{cid}/{k}": v for k, v in client_state.items()})
    meta = {
        "fingerprint": fingerprint,
        "round": str(state.round),
        "train_seconds": repr(state.train_seconds),
        "eval_seconds": repr(state.eval_seconds),
        **{name: json.dumps(getattr(state, name)) for name in _LOGS},
    }
    write_tensors(path, tensors, metadata=meta)


def _metadata(path: Path) -> dict[str, str] | None:
    remove_stale_temps(path.parent)  # a run killed mid-write leaves its temp files here
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata() or {}


def checkpoint_round(path: Path) -> int | None:
    """The last round the checkpoint at ``path`` holds, or None when there is none."""
    meta = _metadata(path)
    return None if meta is None or "round" not in meta else int(meta["round"])


def load_checkpoint(path: Path, fingerprint: str) -> tuple[RunState, dict[int, State]] | None:
    """The saved run, or None when there is none or it belongs to other params or data."""
    meta = _metadata(path)
    if meta is None or meta.get("fingerprint") != fingerprint:
        return None
    tensors = load_file(str(path))
    global_state = {k.removeprefix("global/"): v for k, v in tensors.items() if k.startswith("global/")}
    personal: dict[int, State] = {}
    for key, value in tensors.items():
        if key.startswith("personal/"):
            _, cid, name = key.split("/", 2)
            personal.setdefault(int(cid), {})[name] = value
    state = RunState(
        round=int(meta["round"]),
        global_state=global_state or None,
        train_seconds=float(meta["train_seconds"]),
        eval_seconds=float(meta["eval_seconds"]),
        **{name: json.loads(meta[name]) for name in _LOGS},
    )
    return state, personal
