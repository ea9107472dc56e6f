"""Private heads of the shared model, for clients that learn different tasks.

Under task heterogeneity (``Roster.private_heads``) FML's memes share only their feature
extractor: the server averages the parameters outside the architecture's ``head_prefix``
(``models.registry.ModelSpec``), and each client keeps its own meme head, with its task's
number of classes, in its personal state under :data:`MEME_HEAD`, next to its local model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.modelpool import GLOBAL, ModelPool, init_state
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import MEME_HEAD_INIT

if TYPE_CHECKING:
    from fmlpipe.fl.personal import PersonalStates

MEME_HEAD = "meme/"  # personal-state prefix of a client's head of the shared model
CHUNK = 32  # clients read from the personal table at once


def split_personal(state: State) -> tuple[State, State]:
    """(the client's own model, its head of the shared model named as in the shared model)."""
    own = {k: v for k, v in state.items() if not k.startswith(MEME_HEAD)}
    head = {k.removeprefix(MEME_HEAD): v for k, v in state.items() if k.startswith(MEME_HEAD)}
    return own, head


def share(state: State, roster: Roster) -> tuple[State, State]:
    """(what a client sends of the shared model it trained, what it keeps of it in its personal
    state): all and nothing; under private heads the body and, prefixed, the head."""
    if not roster.private_heads:
        return state, {}
    prefix = roster.head_prefix
    return ({k: v for k, v in state.items() if not k.startswith(prefix)},
            {MEME_HEAD + k: v for k, v in state.items() if k.startswith(prefix)})


def initial_head(pool: ModelPool, roster: Roster, seed: int, cid: int) -> State:
    """Client ``cid``'s first meme head (prefixed), from its own seed; empty without private heads."""
    if not roster.private_heads:
        return {}
    return share(init_state(pool.module(roster.key(GLOBAL, cid)), seed, MEME_HEAD_INIT, cid), roster)[1]


def mean_heads(personal: PersonalStates) -> dict[str, State]:
    """Per task, the mean of its clients' meme heads (named as in the shared model)."""
    roster = personal.roster
    sums: dict[str, dict[str, torch.Tensor]] = {}
    dtypes: dict[str, torch.dtype] = {}
    for (_, task), members in roster.cohorts().items():
        acc = sums.setdefault(task, {})
        for start in range(0, len(members), CHUNK):
            for name, t in personal.gather(members[start : start + CHUNK]).items():
                if name.startswith(MEME_HEAD):
                    part = t.to(torch.float64).sum(dim=0)
                    acc[name] = acc[name] + part if name in acc else part
                    dtypes[name] = t.dtype
    return {task: {name.removeprefix(MEME_HEAD): (s / len(roster.clients_of(task))).to(dtypes[name])
                   for name, s in acc.items()} for task, acc in sorted(sums.items())}
