"""Code fingerprints: which of a package's modules an entry module can run, and a hash of what
they mean rather than how they are written.

A DVC stage that depends on whole source folders re-runs after a comment edit and misses the
modules it imports from elsewhere. Instead each stage depends on one small text file: the sha256
of every module in the static import closure of its entry modules, each hashed from its syntax
tree with docstrings dropped (comments never reach the tree), and the combined hash on top.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Fingerprint:
    """The code one stage runs: ``lines`` maps each module (or data file) to its sha256."""

    name: str
    lines: Mapping[str, str]

    @property
    def combined(self) -> str:
        return hashlib.sha256(self._listing().encode()).hexdigest()

    def _listing(self) -> str:
        return "".join(f"{digest}  {what}\n" for what, digest in sorted(self.lines.items()))

    def text(self) -> str:
        """The file DVC depends on: the combined hash, then one sorted line per module."""
        return f"{self.combined}  {self.name}\n{self._listing()}"


def find_modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name (``pkg.sub.mod``)."""
    base = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(base).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@cache  # pure in its arguments; a stage listing parses each module once, not once per stage
def _tree(source: str, filename: str) -> ast.Module:
    """The parsed ``source``: shared, so never to be changed."""
    return ast.parse(source, filename)


def _import_nodes(tree: ast.AST, lazy: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree``; with ``lazy`` also those inside functions."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(child for child in ast.iter_child_nodes(node)
                     if lazy or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__``."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imports(module: str, modules: Mapping[str, Path], lazy: bool = True) -> set[str]:
    """The modules of ``modules`` that ``module`` imports directly (relative imports resolved,
    ``from pkg import sub`` counting submodule ``sub``); names outside ``modules`` are ignored."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(_tree(path.read_text(encoding="utf-8"), str(path)), lazy):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                if node.level > len(parts):
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top-level package")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(name for full in names for name in _with_parents(full) if name in modules)
    found.discard(module)
    return found


def closure(entries: Iterable[str], modules: Mapping[str, Path], dispatchers: Iterable[str] = ()) -> set[str]:
    """Every module that running ``entries`` may import: the entries, their packages and,
    transitively, what each imports, at module level or inside a function (code imports lazily
    and we cannot tell statically which functions run).

    A dispatcher (a module or package prefix) holds one function per command or stage: the CLI
    package imports every command's module, the stage registry every stage's runner. Its own
    code counts, but what it imports belongs to the commands and stages that use it, so from a
    dispatcher that is not itself an entry no import is followed: a change in ``fmlpipe bench``
    re-runs no stage.
    """
    entries = set(entries)
    unknown = sorted(entries - set(modules))
    if unknown:
        raise ValueError(f"unknown entry module(s): {', '.join(unknown)}")
    prefixes = tuple(dispatchers)

    def dispatcher(name: str) -> bool:
        return name not in entries and any(name == p or name.startswith(p + ".") for p in prefixes)

    seen: set[str] = set()
    todo = [parent for entry in entries for parent in _with_parents(entry) if parent in modules]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            if not dispatcher(name):
                todo.extend(imports(name, modules) - seen)
    return seen


def _is_string_statement(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


@cache
def semantic_hash(source: str, filename: str = "<source>") -> str:
    """sha256 of the syntax tree without docstrings (or any other bare string statement, which
    does nothing); comments, blank lines and formatting never reach the tree.

    The tree's text form belongs to the Python version: a new minor version may change every
    hash, and so re-run every stage, as a new interpreter should.
    """
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                setattr(node, field, [s for s in statements if not _is_string_statement(s)])
    return hashlib.sha256(ast.dump(tree, annotate_fields=True, include_attributes=False).encode()).hexdigest()


def fingerprint(name: str, entries: Iterable[str], modules: Mapping[str, Path], dispatchers: Iterable[str] = (),
                data_files: Mapping[str, Iterable[str]] | None = None) -> Fingerprint:
    """The fingerprint of ``entries``' closure. ``data_files`` names, per module, the non-Python
    files it reads, by their path from the package's parent folder: hashed byte for byte, or
    ``absent`` where missing (an installed wheel may leave a built kernel's source out)."""
    lines: dict[str, str] = {}
    for module in closure(entries, modules, dispatchers):
        path = modules[module]
        lines[module] = semantic_hash(path.read_text(encoding="utf-8"), str(path))
        for data in (data_files or {}).get(module, ()):
            file = modules[module.partition(".")[0]].parent.parent / data  # from the package's parent
            lines[data] = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "absent"
    return Fingerprint(name, lines)


# The command every DVC stage calls; it imports the stage registry, fmlpipe.stages.
CLI_ENTRY = "fmlpipe.cli.run_stage"
# One function per stage (the registry's runners) or per command (the CLI's modules): see closure().
DISPATCHERS = ("fmlpipe.stages", "fmlpipe.cli")
# The C kernel native_pool loads: pip builds it at install, so its source is what runs.
DATA_FILES = {"fmlpipe.models.native_pool": ("fmlpipe/models/_pool_relu.c",)}


def stage_fingerprint(name: str, entries: Iterable[str], package_dir: Path = Path(__file__).parent) -> Fingerprint:
    """The fingerprint of stage ``name``, whose runner imports ``entries`` (``fmlpipe.stages``),
    of the package in ``package_dir`` (by default the imported one: the code ``fmlpipe
    run-stage`` runs)."""
    return stage_fingerprints({name: entries}, package_dir)[name]


def stage_fingerprints(stages: Mapping[str, Iterable[str]], package_dir: Path = Path(__file__).parent,
                       ) -> dict[str, Fingerprint]:
    """:func:`stage_fingerprint` of every stage in ``stages`` (name -> the modules its runner
    imports), sharing one listing of the package."""
    modules = find_modules(package_dir)
    return {name: fingerprint(name, (CLI_ENTRY, *entries), modules, DISPATCHERS, DATA_FILES)
            for name, entries in stages.items()}
