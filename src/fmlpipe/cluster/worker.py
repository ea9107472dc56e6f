"""A Ray worker: the clients it owns, their personal states and the engine that runs them.

Each worker builds the same run the train stage builds (``fl.setup.build_run``), for its own
shard of clients, from the prepared data and partition the driver put in Ray's object store
once. It answers the round loop's calls for its clients and never touches the MLflow store or
the pipeline's files: the driver writes everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from fmlpipe.config import Params
from fmlpipe.data.store import PreparedDataset
from fmlpipe.errors import DataError
from fmlpipe.fl.algorithms import configured
from fmlpipe.fl.data import federated_data
from fmlpipe.fl.device import make_deterministic, resolve_device
from fmlpipe.fl.protocol import ClientResult, State
from fmlpipe.fl.setup import build_run
from fmlpipe.memory import process_peak_bytes, recent_peak_bytes, reset_recent_peak
from fmlpipe.partition.result import Partition


class ShardWorker:
    """Wrapped with ``ray.remote`` by the driver (``cluster.backend``); plain here, so that it
    imports without Ray and can be tested in-process."""

    def __init__(self, index: int, params: Params, algorithm: str, data: tuple[PreparedDataset, Partition] | None,
                 members: Sequence[int], threads: int):
        torch.set_num_threads(threads)  # each client on ``threads`` threads, as the local engines run it
        make_deterministic()
        if data is None:
            raise DataError(f"Ray worker {index} got no data from the object store: the driver's copy is gone; "
                            "run the stage again")
        prepared, partition = data
        device = resolve_device(params.base.device)
        cls, section = configured(params)[algorithm]
        self.index = index
        self.run = build_run(params, federated_data(prepared, partition, device, params.data.normalize), device,
                             cls, section, members)

    def ping(self) -> int:
        """The worker's index, once it is built (the driver waits on this before round 1)."""
        return self.index

    def node(self) -> str:
        """The id of the Ray node this worker runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def reset_peak(self) -> None:
        """Start the peak of :meth:`memory` afresh (``fmlpipe bench``: before the rounds)."""
        reset_recent_peak()

    def memory(self) -> tuple[int, int]:
        """This worker process's peak resident memory: over its life, and since :meth:`reset_peak`."""
        return process_peak_bytes(), recent_peak_bytes()

    def train(self, rnd: int, lr: float, values: Mapping[str, float], cids: Sequence[int],
              global_state: State | None) -> list[ClientResult]:
        return self.run.backend.train(rnd, lr, values, cids, global_state)

    def evaluate(self, rnd: int, global_state: State | None) -> dict[int, float]:
        return self.run.backend.evaluate_members(rnd, global_state)

    def heads(self) -> list[tuple[int, State]]:
        return list(self.run.backend.heads())

    def states(self) -> list[tuple[int, State]]:
        return list(self.run.backend.states())

    def load(self, states: Mapping[int, State]) -> None:
        self.run.backend.load(states)
