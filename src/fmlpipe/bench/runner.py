"""Run the benchmark: prepare the real Fashion-MNIST once per data layout, then each case in
its own process (``fmlpipe.bench.case``), one after another so that none disturbs another."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmlpipe.bench.settings import Case
from fmlpipe.data.prepare import run_prepare
from fmlpipe.errors import FmlpipeError
from fmlpipe.partition.stage import run_partition
from fmlpipe.paths import Paths


def prepare(case: Case, root: Path) -> None:
    """Prepared data and partition of ``case`` under ``root`` (the pipeline's own stages)."""
    params = case.params()
    run_prepare(params, Paths(root))
    run_partition(params, Paths(root))


def run_all(cases: list[Case], on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="fmlpipe-bench-") as tmp:
        roots: dict[tuple[float, str, int, str | None], Path] = {}
        for case in cases:
            if case.data_key not in roots:
                roots[case.data_key] = Path(tmp) / f"data-{len(roots)}"
                prepare(case, roots[case.data_key])
            result = run_subprocess(case, roots[case.data_key], Path(tmp) / "result.json")
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def run_subprocess(case: Case, root: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "fmlpipe.bench.case", json.dumps(case.to_dict()), str(root), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise FmlpipeError(f"bench case {case.setting}/{case.algorithm}/{case.engine} failed: {tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result
