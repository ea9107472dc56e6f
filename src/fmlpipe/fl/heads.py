"""Private heads of the shared model.

Where heads stay private (``Roster.private_heads``: clients that learn different tasks under
FML, or an algorithm that keeps them by design, as FedRep and FedPer do) the server averages
only the parameters outside the architecture's ``head_prefix`` (``models.registry.ModelSpec``),
and each client keeps its own head, with its task's number of classes, in its personal state.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from fmlpipe.fl.modelpool import GLOBAL, ModelPool, init_state
from fmlpipe.fl.protocol import State
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import MEME_HEAD_INIT


def share(state: State, roster: Roster) -> tuple[State, State]:
    """(what a client sends of the shared model it trained, the head it keeps): all and
    nothing, unless heads are private."""
    if not roster.private_heads:
        return state, {}
    prefix = roster.head_prefix
    return ({k: v for k, v in state.items() if not k.startswith(prefix)},
            {k: v for k, v in state.items() if k.startswith(prefix)})


def initial_head(pool: ModelPool, roster: Roster, seed: int, cid: int) -> State:
    """Client ``cid``'s first head of the shared model, from its own seed; empty unless heads
    are private."""
    if not roster.private_heads:
        return {}
    return share(init_state(pool.module(roster.key(GLOBAL, cid)), seed, MEME_HEAD_INIT, cid), roster)[1]


def mean_heads(heads: Iterable[tuple[int, State]], roster: Roster) -> dict[str, State]:
    """Per task, the mean of its clients' heads (every client's, in any order; float64 sums)."""
    sums: dict[str, dict[str, torch.Tensor]] = {}
    dtypes: dict[str, torch.dtype] = {}
    for cid, head in heads:
        acc = sums.setdefault(roster.tasks[cid], {})
        for name, t in head.items():
            acc[name] = acc[name] + t.to(torch.float64) if name in acc else t.to(torch.float64)
            dtypes[name] = t.dtype
    return {task: {name: (s / len(roster.clients_of(task))).to(dtypes[name]) for name, s in acc.items()}
            for task, acc in sorted(sums.items())}
