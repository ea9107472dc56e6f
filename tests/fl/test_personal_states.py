"""The compact personal-state table: lazy seeded init, round trips, and the file-backed table."""

from __future__ import annotations

import pytest
import torch

import fmlpipe.fl.personal as personal_mod
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelPool, init_state
from fmlpipe.fl.personal import Layout, PersonalStates
from fmlpipe.fl.roster import Roster
from fmlpipe.fl.seeding import LOCAL_INIT

POOL = ModelPool({GLOBAL: "mlp", LOCAL: "mlp"}, (1, 16, 16), 3, torch.device("cpu"))


def _states(clients: int = 5) -> PersonalStates:
    roster = Roster.uniform("mlp", "mlp", clients, 3)
    return PersonalStates(roster, POOL.device, lambda cid: init_state(POOL.get(LOCAL), 7, LOCAL_INIT, cid))


@pytest.fixture(params=["memory", "file"])
def table(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "file":
        monkeypatch.setattr(personal_mod, "RAM_TABLE_LIMIT", 0)
    return str(request.param)


def test_a_client_starts_from_its_seeded_init_and_only_used_clients_exist(table: str) -> None:
    states = _states()
    expected = init_state(POOL.get(LOCAL), 7, LOCAL_INIT, 3)
    got = states.get(3)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert states.clients() == [3]
    expected_rows = "_FileRows" if table == "file" else "_TensorRows"
    assert [type(rows).__name__ for _, rows in states._tables.values()] == [expected_rows]


def test_put_get_and_stacked_gather_scatter_round_trip(table: str) -> None:
    states = _states()
    a = {k: v + 1 for k, v in states.get(0).items()}
    states.put(2, a)
    stacked = states.gather([2, 0])
    assert all(torch.equal(stacked[k][0], a[k]) for k in a)
    states.scatter([4, 1], {k: v.flip(0) for k, v in stacked.items()})
    assert all(torch.equal(states.get(4)[k], states.get(0)[k]) for k in a)
    assert all(torch.equal(states.get(1)[k], a[k]) for k in a)
    assert sorted(cid for cid, _ in states.items()) == [0, 1, 2, 4]


def test_states_property_loads_what_a_checkpoint_holds(table: str) -> None:
    source = _states()
    source.put(1, {k: torch.full_like(v, 0.5) for k, v in source.get(1).items()})
    target = _states()
    target.load(source.items())
    assert target.clients() == [1]
    assert all(torch.equal(target.get(1)[k], source.get(1)[k]) for k in source.get(1))


def test_layout_keeps_integer_buffers_exact() -> None:
    state = {"w": torch.randn(2, 3), "steps": torch.tensor(12345678901, dtype=torch.int64)}
    layout = Layout(state)
    rows = layout.encode({k: torch.stack([v, v]) for k, v in state.items()})
    back = layout.decode(rows)
    assert back["steps"].tolist() == [12345678901, 12345678901]
    assert torch.equal(back["w"][1], state["w"])
    assert layout.row_bytes == 6 * 4 + 8
