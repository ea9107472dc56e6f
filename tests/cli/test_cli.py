from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fmlpipe import __version__
from fmlpipe.cli import app
from fmlpipe.stages import STAGES
from tests.conftest import imported_after, needs_fashion

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"fmlpipe {__version__}"


def test_stages_lists_every_stage_on_one_line() -> None:
    result = runner.invoke(app, ["stages"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(STAGES)


def test_help_everywhere() -> None:
    for args in (["--help"], ["run-stage", "--help"], ["stages", "--help"], ["code-fingerprint", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_unknown_stage_is_usage_error() -> None:
    result = runner.invoke(app, ["run-stage", "trian"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown stage 'trian' (known: " + ", ".join(STAGES) + ")"


def test_bad_params_exit_2_one_line_and_nothing_written(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text()
    params.write_text(text.replace("num_clients: 20", "num_clients: -4"))
    result = runner.invoke(app, ["run-stage", "partition", "--params", str(params)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {params}: partition.num_clients=-4: Input should be greater than or equal to 1"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    plain = runner.invoke(app, ["run-stage", "prepare", "--params", str(missing)])
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = subprocess.run(
        [sys.executable, "-m", "fmlpipe", "--debug", "run-stage", "prepare", "--params", str(missing)],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "ParamsError" in debug.stderr


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "fmlpipe", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"fmlpipe {__version__}"


def test_the_cli_starts_without_torch() -> None:
    # DVC starts one `fmlpipe run-stage` per stage; --help, --version and `stages` need none of these.
    assert imported_after("import fmlpipe.cli", ("torch", "torchvision", "mlflow", "matplotlib")) == []


def test_stages_skip_torchvision_unless_it_loads_the_data() -> None:
    # torchvision costs seconds at import; only `prepare` of CIFAR or a download needs it, not
    # preparing local Fashion-MNIST (the default) nor any stage reading prepared data.
    stages = ("fmlpipe.data.prepare", "fmlpipe.partition.stage", "fmlpipe.train.stage", "fmlpipe.evaluate.stage",
              "fmlpipe.summary.stage")
    assert imported_after("\n".join(f"import {m}" for m in stages), ("torch", "torchvision")) == ["torch"]


@needs_fashion
def test_reading_the_debian_fashion_mnist_skips_torchvision() -> None:
    load = "from pathlib import Path\nfrom fmlpipe.data.sources import load_source\n" \
           "assert load_source('fashion_mnist', Path('no-such-root'), False).train_x.shape[0] == 60000"
    assert imported_after(load, ("torchvision",)) == []
