"""A pipeline's named variants: each replaces some keys of the base params (dotted keys, e.g.
``models.local_cycle: [mlp, cnn]``) before the whole is validated, so a variant is checked as
strictly as ``params.yaml`` itself."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import yaml

from fmlpipe.errors import ParamsError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a folder, an MLflow run name and a DVC stage key


def apply_variant(raw: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    """``raw`` (a loaded params mapping) with variant ``name``'s keys replaced."""
    variants = raw.get("variants") or {}
    if not isinstance(variants, dict) or name not in variants:
        known = ", ".join(sorted(variants)) if isinstance(variants, dict) and variants else "none defined"
        raise ParamsError(f"{source}: unknown variant {name!r} (variants: {known})")
    if not NAME.match(name):
        raise ParamsError(f"{source}: variant name {name!r} must be lowercase letters, digits, '_' or '-' "
                          "(up to 64, starting with a letter or digit)")
    changes = variants[name]
    if not isinstance(changes, dict):
        raise ParamsError(f"{source}: variants.{name} must map dotted keys to values, got {type(changes).__name__}")
    out = copy.deepcopy(raw)
    for dotted, value in changes.items():
        set_dotted(out, str(dotted), value, f"{source}: variants.{name}")
    return out


def set_dotted(raw: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    """Replace the key ``dotted`` (``federation.rounds``) of ``raw``, one the base params have;
    anything else is a :class:`ParamsError` that starts with ``where``."""
    parts = dotted.split(".")
    if parts[0] == "variants":
        raise ParamsError(f"{where}: a variant cannot change 'variants'")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            raise ParamsError(f"{where}: '{dotted}' names no section ('{'.'.join(parts[:i + 1])}' is not a "
                              "mapping in the base params)")
        node = child
    if parts[-1] not in node:
        raise ParamsError(f"{where}: unknown key '{dotted}' (a variant replaces keys the base params have; "
                          "give a mapping such as models.local_overrides whole)")
    node[parts[-1]] = copy.deepcopy(value)


def parse_assignments(assignments: Iterable[str], where: str) -> dict[str, Any]:
    """``dotted.key=value`` strings (``--set`` of the benchmarks; each value read as YAML) as a
    mapping for :func:`set_dotted`; one without ``=`` is a :class:`ParamsError` naming it."""
    parsed = {}
    for assignment in assignments:
        key, eq, value = assignment.partition("=")
        if not eq or not key:
            raise ParamsError(f"{where} {assignment}: give dotted.key=value (e.g. federation.rounds=3)")
        parsed[key] = yaml.safe_load(value)
    return parsed
