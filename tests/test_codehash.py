"""fmlpipe.codehash: the import closure and the semantic hash, on a tiny package written to
tmp_path, then on fmlpipe itself."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from fmlpipe.codehash import closure, find_modules, fingerprint, imports, semantic_hash, stage_fingerprints
from fmlpipe.stages import STAGES

TOY = {
    "toy/__init__.py": '"""A toy package."""\n',
    "toy/registry.py": "def run_a():\n    from toy.a import main\n    return main()\n",
    "toy/a.py": "from . import util\n\n\ndef main():\n    from .sub.deep import f  # lazy\n    return f()\n",
    "toy/b.py": "import toy.sub\nfrom toy.registry import run_a\n",
    "toy/util.py": "X = 1\n",
    "toy/sub/__init__.py": "",
    "toy/sub/deep.py": "import os\n\nfrom ..util import X\n\n\ndef f():\n    return X + len(os.sep)\n",
    "toy/kernel.c": "int one(void) { return 1; }\n",
    "toy/unused.py": "import toy.a\n",
    "toy/cmds.py": "import toy.util\n",  # a dispatcher whose module-level import is another command's
    "toy/main.py": "import toy.cmds\n",
}


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    for name, text in TOY.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return find_modules(tmp_path / "toy")


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def test_modules_are_named_by_their_dotted_path(toy: dict[str, Path]) -> None:
    assert sorted(toy) == ["toy", "toy.a", "toy.b", "toy.cmds", "toy.main", "toy.registry", "toy.sub",
                           "toy.sub.deep", "toy.unused", "toy.util"]
    assert toy["toy.sub"].name == "__init__.py"


def test_imports_resolve_relative_and_submodule_names_and_follow_functions(toy: dict[str, Path]) -> None:
    # `from . import util` is submodule toy.util; `from .sub.deep import f` runs toy.sub's __init__ too
    assert imports("toy.a", toy) == {"toy", "toy.util", "toy.sub", "toy.sub.deep"}
    assert imports("toy.a", toy, lazy=False) == {"toy", "toy.util"}
    assert imports("toy.sub.deep", toy) == {"toy", "toy.util"}  # `..util` from toy.sub; os is not ours
    assert imports("toy.b", toy) == {"toy", "toy.sub", "toy.registry"}


def test_closure_is_transitive_through_lazy_imports(toy: dict[str, Path]) -> None:
    assert closure(["toy.sub.deep"], toy) == {"toy", "toy.sub", "toy.sub.deep", "toy.util"}
    assert closure(["toy.b"], toy) == {"toy", "toy.b", "toy.sub", "toy.registry", "toy.a", "toy.util",
                                       "toy.sub.deep"}


def test_a_dispatcher_contributes_its_own_code_not_its_imports(toy: dict[str, Path]) -> None:
    assert closure(["toy.b"], toy, dispatchers=["toy.registry"]) == {"toy", "toy.b", "toy.sub", "toy.registry"}
    # toy.cmds imports toy.util at module level: as a dispatcher it counts alone
    assert closure(["toy.main"], toy, dispatchers=["toy.cmds"]) == {"toy", "toy.main", "toy.cmds"}
    assert "toy.util" in closure(["toy.main"], toy)
    # ... unless it is an entry itself
    assert "toy.a" in closure(["toy.registry"], toy, dispatchers=["toy.registry"])


def test_bad_entries_and_relative_imports_fail_in_one_line(toy: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"^unknown entry module\(s\): toy.nope$"):
        closure(["toy.util", "toy.nope"], toy)
    toy["toy.util"].write_text("from ... import x\n")
    with pytest.raises(ValueError, match=r"util.py:1: relative import beyond the top-level package$"):
        imports("toy.util", toy)


def test_semantic_hash_is_the_tree_without_docstrings() -> None:
    source = '"""Module doc."""\n\n\nclass C:\n    """Class doc."""\n\n    def f(self, x):\n' \
             '        """Method doc."""\n        return x + 1  # one more\n'
    bare = "class C:\n    def f(self, x):\n        return x + 1\n"
    expected = _sha(ast.dump(ast.parse(bare), annotate_fields=True, include_attributes=False))
    assert semantic_hash(source) == expected
    restyled = "# a comment\nclass C:\n    '''Other doc.'''\n    def f(self, x):\n        return (x\n + 1)\n"
    assert semantic_hash(restyled) == expected
    assert semantic_hash(bare.replace("x + 1", "x + 2")) != expected
    assert semantic_hash(bare.replace("x + 1", "'x + 1'")) != expected  # a returned string is code


def test_fingerprint_lists_each_module_and_data_file(toy: dict[str, Path]) -> None:
    data = {"toy.sub.deep": ["toy/kernel.c"]}
    fp = fingerprint("deep", ["toy.sub.deep"], toy, data_files=data)
    files = {m: toy[m].read_text() for m in ("toy", "toy.sub", "toy.sub.deep", "toy.util")}
    listing = "".join(f"{semantic_hash(files[m])}  {m}\n" for m in sorted(files))  # sorted by module
    listing += f"{_sha(TOY['toy/kernel.c'])}  toy/kernel.c\n"  # '/' sorts after '.'

    assert fp.text() == f"{_sha(listing)}  deep\n{listing}"
    assert fp.lines["toy"] == semantic_hash("")  # its docstring is all it has

    toy["toy.util"].write_text('"""Now documented."""\n\nX = 1  # the one\n')
    assert fingerprint("deep", ["toy.sub.deep"], toy, data_files=data) == fp
    toy["toy.util"].write_text("X = 2\n")
    changed = fingerprint("deep", ["toy.sub.deep"], toy, data_files=data)
    assert {m for m in fp.lines if changed.lines[m] != fp.lines[m]} == {"toy.util"}
    assert changed.combined != fp.combined
    (toy["toy"].parent / "kernel.c").write_text("int one(void) { return 2; }\n")
    kernel = fingerprint("deep", ["toy.sub.deep"], toy, data_files=data).lines["toy/kernel.c"]
    assert kernel != fp.lines["toy/kernel.c"]
    (toy["toy"].parent / "kernel.c").unlink()  # a wheel without the kernel's source
    assert fingerprint("deep", ["toy.sub.deep"], toy, data_files=data).lines["toy/kernel.c"] == "absent"


def test_every_stage_of_fmlpipe_runs_the_cli_and_only_its_own_stage_code() -> None:
    listed = stage_fingerprints({name: stage.modules for name, stage in STAGES.items()})
    stages = {name: set(fp.lines) for name, fp in listed.items()}
    for modules in stages.values():
        assert {"fmlpipe.cli.run_stage", "fmlpipe.stages", "fmlpipe.io", "fmlpipe.config.schema"} <= modules
        assert "fmlpipe.bench.runner" not in modules
        # the CLI package imports every command: their code does not run in a stage
        assert not {"fmlpipe.cli.bench", "fmlpipe.bench.settings", "fmlpipe.cli.ui"} & modules
    assert {"fmlpipe.fl.engines.parallel", "fmlpipe.metrics", "fmlpipe.train.stage",
            "fmlpipe/models/_pool_relu.c"} <= stages["train"]
    # train records its own fingerprint in its checkpoints
    assert {name for name, modules in stages.items() if "fmlpipe.codehash" in modules} == {"train"}
    with_evaluate = {name for name, modules in stages.items() if "fmlpipe.evaluate.stage" in modules}
    assert with_evaluate == {"evaluate", "summarize"}  # summarize reads runs through evaluate's code
    with_engines = {name for name, modules in stages.items() if "fmlpipe.fl.engines.parallel" in modules}
    assert with_engines == {"train"}
