"""The parallel engine (CPU): a round's clients trained concurrently, one worker thread per
core, each with modules of its own and one intra-op thread.

At small batches a convolution gains little from a second intra-op thread: ``fmlpipe bench``'s
FML step on the cnn at batch 10 takes 8.2 ms on one thread and 5.5 ms on two, while two
clients on one thread each take 4.2 ms per step together. PyTorch kernels release the GIL, so
threads suffice. Every client is computed on one thread whatever the number of workers, so
the results do not depend on it or on scheduling: they equal the sequential engine run with
``torch.set_num_threads(1)``, bit for bit.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from weakref import WeakKeyDictionary

import torch

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.algorithms.base import Algorithm, ClientResult, SimContext

_contexts: WeakKeyDictionary[Algorithm, list[SimContext]] = WeakKeyDictionary()  # per worker, built once


def worker_count() -> int:
    """Workers for this process: its intra-op thread budget (``torch.get_num_threads()``)."""
    return max(1, torch.get_num_threads())


@contextmanager
def single_threaded_ops() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_parallel(alg: Algorithm, cids: Sequence[int], global_state: State | None, rnd: int,
                   lr: float) -> list[ClientResult]:
    """Every chosen client's round, as ``alg.client_update`` computes it on one thread."""
    workers = min(worker_count(), max(1, len(cids)))
    contexts = _contexts.setdefault(alg, [])
    while len(contexts) < workers:
        contexts.append(replace(alg.ctx, pool=alg.ctx.pool.fork()))
    # A shallow copy per worker: this round's hyperparameters (FML's alpha and beta) with that
    # worker's modules; personal states are shared (locked in fl.personal). Which worker trains a
    # client does not change its result: each client's computation is its own, on one thread.
    clones = []
    for ctx in contexts[:workers]:
        clone = copy.copy(alg)
        clone.ctx = ctx
        clones.append(clone)

    # Largest clients first, each worker taking the next client as it finishes one: the round
    # ends when the last client does, so the big ones must not queue behind small ones.
    order = sorted(range(len(cids)), key=lambda i: -alg.ctx.data.clients[cids[i]].num_train)
    todo = iter(order)
    lock = threading.Lock()
    results: list[ClientResult | None] = [None] * len(cids)

    def work(worker: Algorithm) -> None:
        torch.set_num_threads(1)  # OpenMP's thread count is per thread: set it in the worker too
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            results[i] = worker.client_update(cids[i], global_state, rnd, lr)

    with single_threaded_ops(), ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(work, clone) for clone in clones]:
            done.result()
    return [r for r in results if r is not None]
