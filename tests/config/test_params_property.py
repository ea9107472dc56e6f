"""Property: whatever a params file holds, the validator accepts it or refuses it with a
ParamsError (one line, naming a key), never another exception."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from fmlpipe.config import parse_params
from fmlpipe.errors import ParamsError
from tests.conftest import REPO

BASE = yaml.safe_load((REPO / "params.yaml").read_text())
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    return out


PATHS = _paths(BASE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), SCALARS), max_size=4),
       extra=st.one_of(st.none(), st.tuples(st.sampled_from([p for p in PATHS if len(p) == 1]),
                                            st.text(min_size=1, max_size=8))))
def test_any_edit_is_accepted_or_refused_with_a_message(edits: list[tuple[tuple[str, ...], Any]], extra: Any) -> None:
    raw = copy.deepcopy(BASE)
    for path, value in edits:
        node = raw
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                break
            node = node[part]
        else:
            node[path[-1]] = value
    if extra is not None and isinstance(raw.get(extra[0][0]), dict):
        raw[extra[0][0]][extra[1]] = 1
    try:
        parse_params(raw)
    except ParamsError as exc:
        message = str(exc)
        assert message and "\n" not in message


@settings(max_examples=200, deadline=None)
@given(st.recursive(SCALARS, lambda inner: st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12))
def test_arbitrary_documents_never_crash(document: Any) -> None:
    if not isinstance(document, dict):
        document = {"base": document}
    try:
        parse_params(document)
    except ParamsError as exc:
        assert "\n" not in str(exc)
