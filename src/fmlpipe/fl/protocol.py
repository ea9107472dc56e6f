"""The client round as a message: a task in, a result out.

Both are plain data (tensors and small values, picklable, no reference to the server's tables),
so a thread, a vmapped batch of clients or a worker on another machine all run the same client
code on them. The server side (sampling, the personal table, aggregation, checkpoints) builds
tasks and consumes results in ``fl.simulation``, once for every engine.

A client's *personal state* is everything that stays on it between rounds, as one flat state
dict: its own model's entries as they are, and under prefixes (``fl.personal_parts``) its head
of the shared model, its optimizer state, and any algorithm-specific values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

State = dict[str, torch.Tensor]
"""A model's (or a client's) tensors by name."""


@dataclass(frozen=True)
class ClientTask:
    """What client ``cid`` is told for round ``round``."""

    cid: int
    round: int
    lr: float
    values: Mapping[str, float]  # the algorithm's scheduled values this round (FML's alpha and beta)
    global_state: State | None  # what the server sends; None when nothing is shared
    personal: State  # the client's personal state before the round ({} for a stateless client)


@dataclass(frozen=True)
class ClientResult:
    """What client ``cid`` hands back after its round."""

    cid: int
    sent: State | None  # what goes to the server for aggregation; None when nothing is
    num_samples: int  # training samples: the aggregation weight
    losses: Mapping[str, float]  # mean training loss per model name
    personal: State = field(default_factory=dict)  # the client's new personal state


@dataclass(frozen=True)
class EvalTask:
    """Client ``cid``'s personalized model to evaluate after round ``round``."""

    cid: int
    round: int
    global_state: State | None
    personal: State
