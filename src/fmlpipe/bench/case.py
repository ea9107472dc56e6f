"""``python -m fmlpipe.bench.case CASE_JSON DATA_ROOT OUT_JSON``: one case in a fresh process,
so that its peak memory is its own (``fmlpipe.memory``: a process-wide maximum)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fmlpipe.bench.measure import run_case
from fmlpipe.bench.settings import Case


def main(argv: list[str]) -> None:
    case_json, root, out = argv
    case = Case(**json.loads(case_json))
    Path(out).write_text(json.dumps(run_case(case, Path(root))))


if __name__ == "__main__":
    main(sys.argv[1:])
