"""The CLI stays light (workers import it again), and local workers come from the fork server."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("mesa", "pandas", "pyarrow", "distributed", "scipy", "networkx", "simulation.model")


def imported_after(code: str) -> list[str]:
    """Which heavy packages a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_cli_and_the_cluster_module_import_nothing_heavy() -> None:
    # each forked worker runs the `scf` script again as its main module: it must stay cheap
    assert imported_after("import analysis.cli") == []
    assert imported_after("import analysis.cluster") == []


def test_help_and_bad_input_need_no_model() -> None:
    assert (
        imported_after(
            "from typer.testing import CliRunner\nfrom analysis.cli import app\n"
            "assert CliRunner().invoke(app, ['batch', '--help']).exit_code == 0"
        )
        == []
    )


@pytest.mark.slow
def test_batch_through_the_console_script_on_forked_workers(tmp_path: Path) -> None:
    """`scf` as installed: its workers are forked from a server started before the imports."""
    scf = Path(sys.executable).with_name("scf")
    if not scf.exists():
        pytest.skip("the scf console script is not installed next to this Python")
    exp = tmp_path / "e.yaml"
    exp.write_text(
        "description: forked workers\nscenarios: [baselines/core_led]\nseeds: 4\nmonths: 3\n"
        "set:\n  population.n_smes: 60\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(scf), "batch", str(exp), "--out", str(tmp_path / "out"), "--workers", "2",
         "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 runs, 4 ok, 0 failed (4 run now on 2 local workers" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_failed_batch_does_not_leave_its_output_pipe_open(tmp_path: Path) -> None:
    """The fork server starts before the experiment is read; it must not hold the pipe."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: bad\nscenarios: [baselines/core_led]\nseeds: 0\nmonths: 3\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from analysis.cli import entry; entry()", "batch", str(bad),
         "--out", str(tmp_path / "out")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.wait(timeout=120) == 2
    # read to the end of file: that comes once no process holds the pipe. The server imports
    # for 2-3 s, so had it inherited the pipe, the end would not be there within a second
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stderr.read()), daemon=True)
    reader.start()
    reader.join(timeout=1.0)
    assert out, "stderr is still open after the command ended"
    err = out[0].decode()
    assert err.startswith("error: ") and "seeds" in err and err.count("\n") == 1
    proc.stdout.close()


@pytest.mark.parametrize(
    "args, wanted",
    [
        (["batch", "e.yaml", "--out", "r"], True),
        (["batch", "e.yaml", "--out", "r", "--workers", "2", "--chunk-size", "3"], True),
        (["batch", "e.yaml", "--out", "r", "--workers", "0"], False),
        (["batch", "e.yaml", "-w", "0"], False),
        (["batch", "e.yaml", "--workers=0"], False),
        (["batch", "e.yaml", "--scheduler", "tcp://10.0.0.5:8786"], False),
        (["batch", "--help"], False),
        (["run", "baselines/core_led"], False),
        ([], False),
    ],
)
def test_the_fork_server_starts_first_thing_only_for_local_workers(
    args: list[str], wanted: bool
) -> None:
    from analysis.cluster import wants_local_workers

    assert wants_local_workers(args) is wanted
