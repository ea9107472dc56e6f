"""The ``summarize`` stage: read the variants' runs, then write ``<pipeline>/reports/``
(summary.md, summary.csv, by_round.csv, by_round.png, balance.png, others.png). Everything is
read and rendered before the first write; each write is atomic."""

from __future__ import annotations

from pathlib import Path

from fmlpipe.config import Params
from fmlpipe.io import atomic_path, write_text
from fmlpipe.paths import Paths
from fmlpipe.summary.collect import collect
from fmlpipe.summary.figures import balance_png, by_round_png, others_png
from fmlpipe.summary.table import by_round_csv, markdown, pooled, summary_csv


def run_summarize(params: Params, paths: Paths, match: str = "*", out: str = "reports") -> list[Path]:
    """Summarize the variants matching the glob ``match`` of the pipeline at
    ``paths.pipeline_root`` into ``<pipeline>/<out>/``; the files written."""
    root = paths.pipeline_root
    runs = collect(params, root, str(root / "params.yaml"), match)
    rows = pooled(runs)
    reports = root / out
    texts = {reports / "summary.md": markdown(rows), reports / "summary.csv": summary_csv(rows),
             reports / "by_round.csv": by_round_csv(runs)}
    images = {reports / "by_round.png": by_round_png(runs), reports / "balance.png": balance_png(runs),
              reports / "others.png": others_png(runs)}
    for path, text in texts.items():
        write_text(path, text)
    for path, png in images.items():
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
    return [*texts, *images]
