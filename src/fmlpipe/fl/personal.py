"""Each client's personal state (its own model, private head, optimizer state), kept compact.

A client's state is one row of bytes in a [clients, row_bytes] table, never a module or
an optimizer per client; clients whose models differ in shape (``fl.roster``: another local
architecture or number of classes) are rows of another table, one per model. A table lives on
the simulation device, except on CPU when the tables would exceed :data:`RAM_TABLE_LIMIT`: then
rows live in a temporary file, read and written with ``pread``/``pwrite``, so the process holds
only the rows in use (1,000 personalized ``cnn`` states are 2.3 GB; in a file they cost page
cache, not resident memory). A client's row is created from its per-client seed on first use,
so untouched clients cost nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch

from fmlpipe.fl.modelpool import LOCAL, ModelKey
from fmlpipe.fl.protocol import State
from fmlpipe.fl.roster import Roster

RAM_TABLE_LIMIT = 1 << 30  # bytes; above this (all tables together) a CPU table goes to a file

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
        # open for as long as the table lives, so no `with`
        self.file = tempfile.TemporaryFile(prefix="fmlpipe-personal-")  # noqa: SIM115
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
    """Every client's personal state (``fl.protocol``), one row per client in a table per
    layout. A client's row is made by ``init(cid)`` on first use (its algorithm's initial
    personal state, from the client's own seed), so untouched clients cost nothing. Clients are
    laid out by ``roster.key(LOCAL, cid)``: clients with the same own architecture and task
    have states of the same shape."""

    def __init__(self, roster: Roster, device: torch.device, init: Callable[[int], State],
                 members: Sequence[int] | None = None):
        self.roster, self.device, self.init = roster, device, init
        # ``members``: the clients this table holds (a shard's, on a worker that owns some), else all.
        self.members = list(range(roster.num_clients)) if members is None else sorted(members)
        self._key = {cid: roster.key(LOCAL, cid) for cid in self.members}
        self._row: dict[int, int] = {}  # a client's row in its layout's table
        self._count: dict[ModelKey, int] = {}
        for cid, key in self._key.items():
            self._row[cid] = self._count.get(key, 0)
            self._count[key] = self._row[cid] + 1
        self._tables: dict[ModelKey, tuple[Layout, _TensorRows | _FileRows]] = {}
        self._bytes = 0
        self._present = dict.fromkeys(self.members, False)
        # The parallel engine's workers read and write states concurrently (fl.engines.parallel).
        self._lock = threading.RLock()

    def _table(self, key: ModelKey, template: Mapping[str, torch.Tensor]) -> tuple[Layout, _TensorRows | _FileRows]:
        if key not in self._tables:
            layout = Layout(dict(template))
            size = self._count[key] * layout.row_bytes
            self._bytes += size
            if self.device.type == "cpu" and self._bytes > RAM_TABLE_LIMIT:
                self._tables[key] = layout, _FileRows(self._count[key], layout.row_bytes)
            else:
                self._tables[key] = layout, _TensorRows(self._count[key], layout.row_bytes, self.device)
        return self._tables[key]

    def _same_layout(self, cids: Sequence[int]) -> ModelKey:
        unknown = [cid for cid in cids if cid not in self._key]
        if unknown:
            raise ValueError(f"clients {unknown} are not in this table (it holds {len(self.members)} clients)")
        keys = {self._key[cid] for cid in cids}
        if len(keys) != 1:
            raise ValueError(f"clients {list(cids)} have models of different shapes and cannot be stacked")
        return keys.pop()

    def gather(self, cids: Sequence[int]) -> Stacked:
        """The states of ``cids`` (clients of one layout), stacked in that order (fresh tensors
        on the device)."""
        key = self._same_layout(cids)
        with self._lock:
            for cid in cids:
                if not self._present[cid]:
                    self.put(cid, self.init(cid))
            layout, rows = self._tables[key]
            raw = rows.read([self._row[cid] for cid in cids])
        return layout.decode(raw.to(self.device))

    def scatter(self, cids: Sequence[int], stacked: Mapping[str, torch.Tensor]) -> None:
        """Store ``stacked[name][i]`` as client ``cids[i]``'s state."""
        with self._lock:
            layout, rows = self._table(self._same_layout(cids), {name: t[0] for name, t in stacked.items()})
            rows.write([self._row[cid] for cid in cids], layout.encode(stacked))
            for cid in cids:
                self._present[cid] = True

    def get(self, cid: int) -> State:
        return {name: t[0] for name, t in self.gather([cid]).items()}

    def put(self, cid: int, state: State) -> None:
        self.scatter([cid], {name: t.unsqueeze(0) for name, t in state.items()})

    def clients(self) -> list[int]:
        """The clients that have a state (trained, evaluated or loaded)."""
        return [cid for cid, present in self._present.items() if present]

    def items(self) -> Iterator[tuple[int, State]]:
        """Every present client's state, one at a time (checkpoints and run outputs)."""
        for cid in self.clients():
            yield cid, self.get(cid)

    def load(self, states: Iterable[tuple[int, State]]) -> None:
        for cid, state in states:
            self.put(cid, state)
