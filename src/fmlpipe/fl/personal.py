"""Each client's private model state (FML's local model, local-only's model), kept compact.

A client's state is one row of bytes in a [num_clients, row_bytes] table, never a module or
an optimizer per client. The table lives on the simulation device, except on CPU when it would
exceed :data:`RAM_TABLE_LIMIT`: then rows live in a temporary file, read and written with
``pread``/``pwrite``, so the process holds only the rows in use (1,000 personalized ``cnn``
states are 2.3 GB; in a file they cost page cache, not resident memory). A client's row is
created from its per-client seed on first use, so untouched clients cost nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence

import torch

from fmlpipe.fl.aggregate import State
from fmlpipe.fl.modelpool import LOCAL, ModelPool, init_state

RAM_TABLE_LIMIT = 1 << 30  # bytes; above this a CPU table goes to a file

Stacked = dict[str, torch.Tensor]
"""A state with a leading client dimension: name -> [k, *shape]."""


class Layout:
    """Where each entry of a state sits in a row of bytes."""

    def __init__(self, template: State):
        self.entries: list[tuple[str, torch.Size, torch.dtype, int, int]] = []
        offset = 0
        for name, t in template.items():
            nbytes = t.numel() * t.element_size()
            self.entries.append((name, t.shape, t.dtype, offset, nbytes))
            offset += nbytes
        self.row_bytes = offset

    def encode(self, stacked: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """[k, row_bytes] uint8 from a stacked state."""
        k = next(iter(stacked.values())).shape[0]
        return torch.cat([stacked[name].detach().reshape(k, -1).contiguous().view(torch.uint8)
                          for name, *_ in self.entries], dim=1)

    def decode(self, rows: torch.Tensor) -> Stacked:
        """A stacked state (fresh tensors) from [k, row_bytes] uint8 rows."""
        k = rows.shape[0]
        return {name: rows[:, off:off + nbytes].contiguous().view(dtype).reshape(k, *shape)
                for name, shape, dtype, off, nbytes in self.entries}


class _TensorRows:
    """The table as one tensor on the device, allocated on first write."""

    def __init__(self, num_rows: int, row_bytes: int, device: torch.device):
        self.shape, self.device = (num_rows, row_bytes), device
        self.table: torch.Tensor | None = None

    def read(self, rows: Sequence[int]) -> torch.Tensor:
        assert self.table is not None
        return self.table[torch.as_tensor(rows, device=self.device)]

    def write(self, rows: Sequence[int], values: torch.Tensor) -> None:
        if self.table is None:
            self.table = torch.empty(self.shape, dtype=torch.uint8, device=self.device)
        self.table[torch.as_tensor(rows, device=self.device)] = values


class _FileRows:
    """The table in an anonymous temporary file (deleted when closed or at exit)."""

    def __init__(self, num_rows: int, row_bytes: int):
        self.row_bytes = row_bytes
        self.file = tempfile.TemporaryFile(prefix="fmlpipe-personal-")
        self.fd = self.file.fileno()

    def read(self, rows: Sequence[int]) -> torch.Tensor:
        out = torch.empty((len(rows), self.row_bytes), dtype=torch.uint8)
        view = out.numpy()
        for i, row in enumerate(rows):
            if os.preadv(self.fd, [view[i]], row * self.row_bytes) != self.row_bytes:
                raise OSError(f"short read of personal state row {row}")
        return out

    def write(self, rows: Sequence[int], values: torch.Tensor) -> None:
        view = values.contiguous().cpu().numpy()
        for i, row in enumerate(rows):
            os.pwrite(self.fd, view[i], row * self.row_bytes)


class PersonalStates:
    """Each client's private model state, created from a per-client seed on first use."""

    def __init__(self, pool: ModelPool, seed: int, init_tag: int, num_clients: int):
        self.pool, self.seed, self.init_tag, self.num_clients = pool, seed, init_tag, num_clients
        self._layout: Layout | None = None
        self._rows: _TensorRows | _FileRows | None = None
        self._present = [False] * num_clients

    def _init(self, cid: int) -> State:
        return init_state(self.pool.get(LOCAL), self.seed, self.init_tag, cid)

    def _table(self, template: State) -> tuple[Layout, _TensorRows | _FileRows]:
        if self._layout is None or self._rows is None:
            self._layout = Layout(template)
            device, size = self.pool.device, self.num_clients * self._layout.row_bytes
            if device.type == "cpu" and size > RAM_TABLE_LIMIT:
                self._rows = _FileRows(self.num_clients, self._layout.row_bytes)
            else:
                self._rows = _TensorRows(self.num_clients, self._layout.row_bytes, device)
        return self._layout, self._rows

    def gather(self, cids: Sequence[int]) -> Stacked:
        """The states of ``cids``, stacked in that order (fresh tensors on the device)."""
        for cid in cids:
            if not self._present[cid]:
                self.put(cid, self._init(cid))
        assert self._layout is not None and self._rows is not None
        rows = self._rows.read(list(cids)).to(self.pool.device)
        return self._layout.decode(rows)

    def scatter(self, cids: Sequence[int], stacked: Mapping[str, torch.Tensor]) -> None:
        """Store ``stacked[name][i]`` as client ``cids[i]``'s state."""
        layout, rows = self._table({name: t[0] for name, t in stacked.items()})
        rows.write(list(cids), layout.encode(stacked))
        for cid in cids:
            self._present[cid] = True

    def get(self, cid: int) -> State:
        return {name: t[0] for name, t in self.gather([cid]).items()}

    def put(self, cid: int, state: State) -> None:
        self.scatter([cid], {name: t.unsqueeze(0) for name, t in state.items()})

    def clients(self) -> list[int]:
        """The clients that have a state (trained, evaluated or loaded)."""
        return [cid for cid, present in enumerate(self._present) if present]

    @property
    def states(self) -> dict[int, State]:
        """Every present client's state, materialized (checkpoints and run outputs)."""
        return {cid: self.get(cid) for cid in self.clients()}

    @states.setter
    def states(self, states: Mapping[int, State]) -> None:
        self.load(states.items())

    def load(self, states: Iterable[tuple[int, State]]) -> None:
        for cid, state in states:
            self.put(cid, state)
