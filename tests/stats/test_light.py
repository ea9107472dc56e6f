from __future__ import annotations

from tests.conftest import imported_after


def test_stats_does_not_import_torch() -> None:
    # The statistics run in the summary and in notebooks; they must not pay for torch's import.
    code = "import fmlpipe.stats.intervals, fmlpipe.stats.paired, fmlpipe.stats.convergence"
    assert imported_after(code, ("torch", "fmlpipe.fl")) == []
