"""The ``summarize`` stage: read the variants' runs, then write ``<pipeline>/reports/``
(summary.md, summary.csv, verdicts.csv, by_round.csv, by_round.png, balance.png, others.png). Everything is
read and rendered before the first write; each write is atomic."""

from __future__ import annotations

from pathlib import Path

from fmlpipe.config import Params
from fmlpipe.errors import ParamsError
from fmlpipe.io import atomic_path, write_text
from fmlpipe.paths import Paths
from fmlpipe.summary.collect import collect
from fmlpipe.summary.compare import against, pooled, within
from fmlpipe.summary.figures import balance_png, by_round_png, others_png
from fmlpipe.summary.table import by_round_csv, markdown, summary_csv, verdicts_csv


def run_summarize(params: Params, paths: Paths, match: str = "*", out: str = "reports",
                  reference: str | None = None) -> list[Path]:
    """Summarize the variants matching the glob ``match`` of the pipeline at
    ``paths.pipeline_root`` into ``<pipeline>/<out>/``; with ``reference`` (a variant group,
    e.g. ``base``), every other group is also set against it. Returns the files written."""
    root = paths.pipeline_root
    runs = collect(params, root, str(root / "params.yaml"), match)
    groups = list(dict.fromkeys(r.group for r in runs))
    if reference is not None and reference not in groups:
        raise ParamsError(f"--reference {reference!r} is not a summarized variant (variants, seeds pooled: "
                          f"{', '.join(groups)})")
    rows = pooled(runs)
    inside = within(runs)
    across = against(runs, reference) if reference is not None else []
    reports = root / out
    texts = {reports / "summary.md": markdown(rows, inside, across, reference),
             reports / "summary.csv": summary_csv(rows),
             reports / "verdicts.csv": verdicts_csv([*inside, *across]),
             reports / "by_round.csv": by_round_csv(runs)}
    images = {reports / "by_round.png": by_round_png(runs), reports / "balance.png": balance_png(runs),
              reports / "others.png": others_png(runs)}
    for path, text in texts.items():
        write_text(path, text)
    for path, png in images.items():
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
    return [*texts, *images]
