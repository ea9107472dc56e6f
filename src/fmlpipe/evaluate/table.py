"""The comparison rendered: DVC metrics, the Markdown report and the CSVs behind the figures."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from fmlpipe.evaluate.compare import AlgorithmSummary, Value, Verdict, separable
from fmlpipe.evaluate.runs import RunRecord
from fmlpipe.evaluate.setting import Setting


def best(summaries: Sequence[AlgorithmSummary], key: str) -> tuple[str, ...]:
    """The algorithms reaching the highest ``key`` (all of them on a tie; none if no one has it)."""
    values = {s.algorithm: s.to_dict()[key] for s in summaries}
    present = {name: float(value) for name, value in values.items() if isinstance(value, float | int)}
    if not present:
        return ()
    top = max(present.values())
    return tuple(name for name, value in present.items() if value == top)


def metrics_json(summaries: Sequence[AlgorithmSummary], found: Sequence[Verdict]) -> dict[str, dict[str, Value]]:
    """Per algorithm its numbers and, for every baseline, FML's paired verdict against it at
    the last round (``vs_fml_*``: FML minus this algorithm, over clients)."""
    out = {s.algorithm: s.to_dict() for s in summaries}
    for v in found:
        if v.at == "last round":
            c = v.comparison
            out[v.baseline].update({"vs_fml_diff": c.mean_diff, "vs_fml_low": c.low, "vs_fml_high": c.high,
                                    "vs_fml_p": c.p_value, "vs_fml_verdict": c.verdict})
    return out


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _pp(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else f"{100 * value:{'+' if signed else ''}.1f}"


def _ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{_pp(low)}, {_pp(high)}]"


def training_word(converged: bool | None) -> str:
    """How a row's training is marked, in words a reader cannot miss."""
    if converged is None:
        return "not checked"
    return "converged" if converged else "**UNDER-TRAINED**"


def markdown(setting: Setting, summaries: Sequence[AlgorithmSummary], found: Sequence[Verdict]) -> str:
    """The report: the setting, each algorithm with its interval and training verdict, and FML
    against each baseline with the clients paired."""
    lines = ["# Personalized federated learning: comparison", "", "## Setting", ""]
    lines += [f"- {line}" for line in setting.lines()]
    short = [s.algorithm for s in summaries if s.converged is False]
    lines += ["", "## Results", ""]
    if short:
        lines += [f"**Under-trained: {', '.join(short)}.** Their training loss had not levelled off "
                  "(see *training* below): these numbers are not their final ones; raise "
                  "federation.rounds or the local epochs before reading them.", ""]
    lines += [
        "| algorithm | personalized mean | std | worst client | 10th percentile | global model, test set "
        "| rounds | train seconds | 95% CI over clients | best round: mean | training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        p = s.personalized
        lines.append(f"| {s.algorithm} | {_pct(p.mean)} | {100 * p.std:.1f} pp | {_pct(p.min)} | {_pct(p.p10)} "
                     f"| {_pct(s.acc_global_test)} | {s.rounds} | {s.train_seconds:.1f} "
                     f"| {_ci(s.last.low, s.last.high)} | {s.best_round}: {_pct(s.best.mean)} "
                     f"| {training_word(s.converged)} |")
    lines += [
        "",
        "Personalized accuracy is each client's personalized model on its own local test split at the "
        "last round, summarized across clients (mean, population std in percentage points, the worst "
        "client, the 10th percentile, and a 95% t-interval of the mean over clients). *Best round* is the "
        "evaluated round of the highest mean, what the FML paper reports: it is optimistic, chosen after "
        f"seeing test accuracy. {setting.noise_note()} The global model is scored on the dataset's whole "
        "test set; `–`: the algorithm has no global model. *Training* says whether every stretch of "
        "rounds at one learning rate ended with the train loss levelled off (`convergence` in params).",
        "",
        "Each algorithm's personalized model:",
        "",
        *(f"- **{s.algorithm}**: {s.personalized_model or 'not recorded'}; {s.convergence or 'no convergence check'}"
          for s in summaries),
    ]
    lines += _verdict_lines(found)
    lines += [
        "",
        _best_line("Best mean personalized accuracy", summaries, best(summaries, "acc_personalized_mean"),
                   "acc_personalized_mean"),
        _best_line("Best global-model accuracy", summaries, best(summaries, "acc_global_test"), "acc_global_test"),
    ]
    return "\n".join(lines) + "\n"


def _verdict_lines(found: Sequence[Verdict]) -> list[str]:
    if not found:
        return []
    reference = found[0].reference
    lines = ["", f"## {reference} against each baseline (clients paired)", "",
             f"The mean over clients of ({reference} − baseline) in percentage points, its 95% t-interval, "
             "the paired t-test's p-value and the verdict for "
             f"{reference}. At the best round each algorithm is taken at its own best round.", "",
             f"| baseline | at | {reference} − baseline | 95% CI | p | verdict |", "|---|---|---:|---:|---:|---|"]
    for v in found:
        c = v.comparison
        p = "–" if c.p_value is None else f"{c.p_value:.3g}"
        lines.append(f"| {v.baseline} | {v.at} | {_pp(c.mean_diff, signed=True)} | {_ci(c.low, c.high)} | {p} "
                     f"| {c.verdict} |")
    width = separable(found)
    if width is not None:
        lines += ["", f"One seed cannot separate methods closer than {100 * width:.1f} percentage points: "
                      "the widest half-width of the paired intervals above at the last round. Runs over "
                      "several seeds (`pipelines/paper/`) narrow it."]
    return lines


def _best_line(label: str, summaries: Sequence[AlgorithmSummary], winners: tuple[str, ...], key: str) -> str:
    if not winners:
        return f"{label}: none of the algorithms has a global model."
    value = next(s.to_dict()[key] for s in summaries if s.algorithm == winners[0])
    assert isinstance(value, float)
    tie = " (tied)" if len(winners) > 1 else ""
    return f"{label}: **{' and '.join(winners)}** ({_pct(value)}){tie}."


def _csv(header: list[str], rows: Sequence[Sequence[Value]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def accuracy_by_round_csv(runs: Sequence[RunRecord]) -> str:
    """``round``, one column of mean personalized accuracy per algorithm, then ``<alg>_global``
    (global model on the test set) for those with a global model; the runs share their rounds."""
    with_global = [run for run in runs if run.acc_global_test is not None]
    header = ["round", *(run.algorithm for run in runs), *(f"{run.algorithm}_global" for run in with_global)]
    rows = [
        [point.round, *(run.history[i].acc_personalized_mean for run in runs),
         *(run.history[i].acc_global_test for run in with_global)]
        for i, point in enumerate(runs[0].history)
    ]
    return _csv(header, rows)


def client_accuracy_csv(runs: Sequence[RunRecord]) -> str:
    """``client`` and each algorithm's personalized accuracy of that client at the last round."""
    header = ["client", *(run.algorithm for run in runs)]
    rows = [[cid, *(run.final_clients[cid] for run in runs)] for cid in range(len(runs[0].final_clients))]
    return _csv(header, rows)
