"""Read ``params.yaml`` once, at the edge, into a frozen :class:`Params`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from fmlpipe.config.schema import Params, Section
from fmlpipe.config.variants import apply_variant
from fmlpipe.errors import ParamsError

S = TypeVar("S", bound=Section)


def load_params(path: str | Path, variant: str | None = None) -> Params:
    """Parse and validate a params file, with ``variant``'s keys replaced when given; raise
    :class:`ParamsError` naming the first bad key."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file '{path}' not found (pass --params PATH or run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ParamsError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    if variant is not None:
        return parse_params(apply_variant(raw, variant, str(path)), source=f"{path} (variant {variant})")
    return parse_params(raw, source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    """Validate an already-loaded mapping (used by tests and by ``load_params``)."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        # Keys and values come from the user's file: escape line breaks to keep one line.
        line = describe(exc).replace("\r", "\\r").replace("\n", "\\n")
        raise ParamsError(f"{source}: {line}") from None


def parse_section(cls: type[S], raw: Any, key: str, source: str = "params") -> S:
    """Validate one section ``raw`` found at ``key`` (e.g. ``algorithms.fml``) with its own
    class: sections whose shape the config package does not know (each algorithm's)."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {key} must be a mapping of keys to values, got {type(raw).__name__}")
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        line = describe(exc, prefix=key, root=cls).replace("\r", "\\r").replace("\n", "\\n")
        raise ParamsError(f"{source}: {line}") from None


def describe(exc: ValidationError, prefix: str = "", root: type[Section] = Params) -> str:
    """One line for the first validation error: key path, offending value, what is allowed."""
    err = exc.errors(include_url=False)[0]
    key = ".".join(str(part) for part in ([prefix] if prefix else []) + list(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(err["loc"][:-1], root)
        allowed = ", ".join(f.alias or n for n, f in parent.model_fields.items()) if parent else "see params.yaml"
        return f"unknown key '{key}' (allowed here: {allowed})"
    if kind == "missing":
        return f"missing key '{key}'"
    message = err["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return f"{key}: {message}" if key else message
    return f"{key}={err['input']!r}: {message}"


def _model_at(loc: tuple[Any, ...], root: type[Section] = Params) -> type[Section] | None:
    """The section class at a key path, to list the keys allowed there."""
    model: type[Section] = root
    for part in loc:
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)), None
        )
        if field is None:
            return None
        candidates = [a for a in getattr(field.annotation, "__args__", (field.annotation,))]
        found = next((c for c in candidates if isinstance(c, type) and issubclass(c, Section)), None)
        if found is None:
            return None
        model = found
    return model
