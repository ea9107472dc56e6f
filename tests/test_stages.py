"""fmlpipe.stages: each stage's ``modules`` are the imports of its runner, so the code
fingerprint starts where the stage really does."""

from __future__ import annotations

import ast
import inspect

import fmlpipe.stages
from fmlpipe.stages import STAGES


def test_each_stage_names_the_modules_its_runner_imports() -> None:
    tree = ast.parse(inspect.getsource(fmlpipe.stages))
    runners = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    for stage in STAGES.values():
        nodes = list(ast.walk(runners[stage.run.__name__]))
        imported = [n.module for n in nodes if isinstance(n, ast.ImportFrom)]
        imported += [alias.name for n in nodes if isinstance(n, ast.Import) for alias in n.names]
        assert sorted(stage.modules) == sorted(imported), stage.name
