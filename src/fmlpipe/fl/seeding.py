"""Seeds derived from (base seed, purpose, round, client): every random draw is a pure function
of where it happens, so a run resumed at round k draws exactly what an uninterrupted run draws."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

# Purposes, fixed integers so seeds never depend on string hashing.
SAMPLE_CLIENTS = 1
SHUFFLE = 2
GLOBAL_INIT = 3
LOCAL_INIT = 4
FINETUNE_SHUFFLE = 5
MEME_HEAD_INIT = 6  # a client's private head of the shared model (task heterogeneity, FedPer, FedRep)
BODY_SHUFFLE = 7  # FedRep's body epochs, drawn apart from its head epochs


def derive_seed(seed: int, *tags: int) -> int:
    """A 63-bit seed from the base seed and integer tags (independent streams per tag tuple)."""
    state = np.random.SeedSequence([seed, *tags]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def generator(seed: int, *tags: int, device: torch.device | str = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *tags))
    return gen


# Held by whatever draws from torch's global generator (seeded inits, building a module), so
# that the parallel engine's threads never interleave their draws (fl.parallel).
GLOBAL_RNG = threading.RLock()


@contextmanager
def seeded_torch(seed: int, *tags: int) -> Iterator[None]:
    """Run a block under a derived global torch seed, restoring the global RNG afterwards
    (module ``reset_parameters`` draws from the global generator). Holds :data:`GLOBAL_RNG`."""
    with GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, *tags))
        yield
