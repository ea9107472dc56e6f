"""Threads for CPU work: one worker per intra-op thread, each computing on one thread.

At the batch sizes federated clients use, a second intra-op thread helps a convolution little,
while a second piece of work on its own core doubles the work done. And work computed on one
thread gives the same bits whatever the number of cores or how the threads are scheduled.
PyTorch's kernels release the GIL, so Python threads suffice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def worker_count() -> int:
    """Workers for this process: its intra-op thread budget (``torch.get_num_threads()``)."""
    return max(1, torch.get_num_threads())


@contextmanager
def single_threaded_ops() -> Iterator[None]:
    """This thread's ops on one intra-op thread, the thread budget restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def map_single_threaded(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, results in the items' order, each item computed on one thread:
    spread over :func:`worker_count` threads where there are several (OpenMP's thread count is
    per thread, so each worker sets its own)."""
    workers = min(worker_count(), len(items))
    with single_threaded_ops():
        if workers <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as executor:
            return list(executor.map(work, items))
