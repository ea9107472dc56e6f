"""The parts of a client's personal state (``fl.protocol``), one flat state dict:

- its own model's entries, unprefixed (FML's local model, local-only's model);
- ``head/``: its head of the shared model, where heads stay private (``fl.heads``);
- ``optim/<slot>/``: the optimizer state of the parameters that stay on the client (``fl.optim``);
- ``extra/``: an algorithm's own per-client values (APFL's mixing weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fmlpipe.fl.protocol import State

HEAD = "head/"
OPTIM = "optim/"
EXTRA = "extra/"


@dataclass(frozen=True)
class Parts:
    own: State = field(default_factory=dict)
    head: State = field(default_factory=dict)  # named as in the shared model
    optim: dict[str, State] = field(default_factory=dict)  # slot name -> "<parameter>/<buffer>" -> tensor
    extra: State = field(default_factory=dict)

    def join(self) -> State:
        out: State = dict(self.own)
        out.update({HEAD + k: v for k, v in self.head.items()})
        for slot, state in self.optim.items():
            out.update({f"{OPTIM}{slot}/{k}": v for k, v in state.items()})
        out.update({EXTRA + k: v for k, v in self.extra.items()})
        return out


def split(state: State) -> Parts:
    """A personal state's parts (the inverse of :meth:`Parts.join`)."""
    parts = Parts()
    for key, value in state.items():
        if key.startswith(HEAD):
            parts.head[key.removeprefix(HEAD)] = value
        elif key.startswith(OPTIM):
            slot, rest = key.removeprefix(OPTIM).split("/", 1)
            parts.optim.setdefault(slot, {})[rest] = value
        elif key.startswith(EXTRA):
            parts.extra[key.removeprefix(EXTRA)] = value
        else:
            parts.own[key] = value
    return parts
