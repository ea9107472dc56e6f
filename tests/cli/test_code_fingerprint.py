"""``fmlpipe code-fingerprint``: one file per stage, rewritten only when it changes, no torch."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fmlpipe.cli import app
from fmlpipe.codehash import stage_fingerprints
from fmlpipe.stages import STAGES
from tests.conftest import imported_after

runner = CliRunner()


def test_writes_each_stage_file_then_only_the_changed_ones(tmp_path: Path) -> None:
    out = tmp_path / "code"
    first = runner.invoke(app, ["code-fingerprint", "--out", str(out)])
    assert first.exit_code == 0, first.output
    expected = stage_fingerprints({name: stage.modules for name, stage in STAGES.items()})
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.sha256" for name in STAGES)
    assert first.output.splitlines() == [f"{out / name}.sha256: {fp.combined[:12]}" for name, fp in expected.items()]
    for name, fp in expected.items():
        assert (out / f"{name}.sha256").read_text() == fp.text()

    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}  # a rewrite renames a new file in
    (out / "train.sha256").write_text("stale\n")
    again = runner.invoke(app, ["code-fingerprint", "--out", str(out)])
    assert again.exit_code == 0 and again.output == f"{out}/train.sha256: {expected['train'].combined[:12]}\n"
    assert (out / "train.sha256").read_text() == expected["train"].text()
    assert {p.name for p in out.iterdir() if p.stat().st_ino != inodes[p.name]} == {"train.sha256"}


def test_fingerprinting_imports_no_torch(tmp_path: Path) -> None:
    # the `code` stage runs on every `dvc repro`: it should take about a second, not torch's import
    run = f"from typer.testing import CliRunner\nfrom fmlpipe.cli import app\n" \
          f"assert CliRunner().invoke(app, ['code-fingerprint', '--out', {str(tmp_path)!r}]).exit_code == 0"
    assert imported_after(run, ("torch", "mlflow", "matplotlib")) == []
