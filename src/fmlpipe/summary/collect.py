"""Read every variant's finished runs through the reader ``evaluate`` uses, with what a summary
adds: the seed each run belongs to, the scheduled alpha/beta, and the clients no variant singles out."""

from __future__ import annotations

import fnmatch
import re
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
    seed: int  # ``base.seed`` of the variant: runs of one seed pair up across algorithms and variants
    algorithm: str
    record: RunRecord
    singled_out: tuple[int, ...]  # clients with a ``models.local_overrides`` entry in any summarized variant

    @property
    def balance(self) -> dict[int, tuple[float, float]]:
        """Round -> (alpha, beta) in force, FML only."""
        return {p.round: p.balance for p in self.record.history if p.balance is not None}

    @property
    def others(self) -> dict[int, float]:
        """Round -> mean personalized accuracy of the clients no variant singles out (empty when
        none is singled out: then every client is one of the "others" and the figure says nothing new)."""
        if not self.singled_out:
            return {}
        out = {}
        for rnd, accs in sorted(self.record.clients_by_round.items()):
            kept = [acc for cid, acc in enumerate(accs) if cid not in self.singled_out]
            if kept:
                out[rnd] = sum(kept) / len(kept)
        return out


def variant_params(params: Params, name: str, source: str) -> Params:
    """``params`` with variant ``name`` applied, validated like a params file."""
    raw = params.model_dump(by_alias=True)
    return parse_params(apply_variant(raw, name, source), source=f"{source} (variant {name})")


def collect(params: Params, pipeline: Path, source: str, match: str = "*") -> list[VariantRun]:
    """The runs of every variant whose name matches the glob ``match``, in the order
    ``variants`` lists them, read as ``evaluate`` reads them."""
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
        for record in load_runs(paths, configured_algorithms(vparams), vparams.convergence):
            out.append(VariantRun(name, SEED_SUFFIX.sub("", name), vparams.base.seed, record.algorithm, record,
                                  singled))
    return out
