"""Read every variant's finished runs (what ``evaluate`` reads, plus the per-round columns a
summary plots: the scheduled alpha/beta, and the clients a variant did not single out)."""

from __future__ import annotations

import csv
import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fmlpipe.config import Params, parse_params
from fmlpipe.config.variants import apply_variant
from fmlpipe.errors import ParamsError
from fmlpipe.evaluate.runs import RunRecord, load_runs
from fmlpipe.evaluate.stage import configured_algorithms
from fmlpipe.paths import Paths

SEED_SUFFIX = re.compile(r"_s(\d+)$")  # fmnist_iid_s0, fmnist_iid_s1, ... pool into fmnist_iid


@dataclass(frozen=True)
class VariantRun:
    """One algorithm's run in one variant."""

    variant: str
    group: str  # the variant's name without its ``_s<seed>`` suffix
    algorithm: str
    record: RunRecord
    balance: dict[int, tuple[float, float]]  # round -> (alpha, beta), FML only
    others: dict[int, float]  # round -> mean personalized accuracy of the clients not singled out
    singled_out: tuple[int, ...]  # clients with a ``models.local_overrides`` entry in any summarized variant


def variant_params(params: Params, name: str, source: str) -> Params:
    """``params`` with variant ``name`` applied, validated like a params file."""
    raw = params.model_dump(by_alias=True)
    return parse_params(apply_variant(raw, name, source), source=f"{source} (variant {name})")


def collect(params: Params, pipeline: Path, source: str, match: str = "*") -> list[VariantRun]:
    """The runs of every variant whose name matches the glob ``match``, in the order
    ``variants`` lists them."""
    names = [name for name in params.variants if fnmatch.fnmatchcase(name, match)]
    if not names:
        known = ", ".join(params.variants) or "none defined"
        raise ParamsError(f"{source}: no variant matches {match!r} (variants: {known}); summarize compares "
                          "a pipeline's variants")
    varied = {name: variant_params(params, name, source) for name in names}
    # The same clients are left out of every variant's ``others``, so a catfish variant's other
    # clients are compared with those very clients in the reference run.
    singled = tuple(sorted({cid for v in varied.values() for cid in v.models.local_overrides}))
    out = []
    for name, vparams in varied.items():
        paths = Paths.of(pipeline / "params.yaml", name)
        for record in load_runs(paths, configured_algorithms(vparams)):
            run_dir = paths.run_dir(record.algorithm)
            group = SEED_SUFFIX.sub("", name)
            out.append(VariantRun(name, group, record.algorithm, record, _balance(run_dir / "history.csv"),
                                  _others(run_dir / "clients.csv", set(singled)) if singled else {}, singled))
    return out


def _balance(path: Path) -> dict[int, tuple[float, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "alpha" not in rows[0]:
        return {}
    return {int(r["round"]): (float(r["alpha"]), float(r["beta"])) for r in rows}


def _others(path: Path, singled: set[int]) -> dict[int, float]:
    sums: dict[int, list[float]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if int(row["client"]) not in singled:
                sums[int(row["round"])].append(float(row["acc_personalized"]))
    return {rnd: sum(v) / len(v) for rnd, v in sorted(sums.items()) if v}
