"""Batch runs: resume, failures, exit codes, and (slow) real Dask clusters and kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import analysis.batch
from analysis.batch import run_plan
from analysis.cli import app
from analysis.experiment import load_experiment
from analysis.store import load_monthly, load_plan, load_summaries
from simulation.metrics import GROUPS
from simulation.runner import run_one
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCF = [sys.executable, "-c", "from analysis.cli import entry; entry()"]
TINY = (
    "description: tiny\nscenarios: [baselines/core_led, levers/guarantee_cap]\nseeds: 2\n"
    "months: 3\nset:\n  population.n_smes: 60\n"
)


def experiment(tmp_path: Path, text: str = TINY, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def digest(store: Path) -> dict[str, str]:
    """Every run file's bytes: equal digests mean byte-identical results."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


EXECUTE = analysis.batch.execute


def fails_on_seed_2(meta: dict) -> dict:
    if meta["seed"] == 2:
        return EXECUTE({**meta, "config": {**meta["config"], "nonsense": 1}})
    return EXECUTE(meta)


def test_serial_batch_stores_what_run_one_returns(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    report = run_plan(plan, tmp_path / "res", workers=0, progress=False)
    assert (report.planned, report.ran, report.ok_total, report.failed_total) == (4, 4, 4, 0)
    monthly = load_monthly(tmp_path / "res")
    cfg = load_scenario("levers/guarantee_cap", {"population.n_smes": 60})
    direct = run_one(cfg, 2, 3)
    stored = monthly[(monthly.scenario == "levers/guarantee_cap") & (monthly.seed == 2)]
    pd.testing.assert_frame_equal(
        stored[direct.monthly.columns].reset_index(drop=True), direct.monthly, check_dtype=False
    )
    summary = load_summaries(tmp_path / "res").set_index(["scenario", "seed"])
    row = summary.loc[("levers/guarantee_cap", 2)]
    assert row["credit_access_rate"] == direct.summary["credit_access_rate"]
    assert (
        row["tier1.credit_access_rate"] == direct.summary["by_group"]["tier1"]["credit_access_rate"]
    )


def test_finished_runs_are_never_run_again(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    run_plan(plan, tmp_path / "res", workers=0, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "res" / "runs").iterdir()}
    bigger = load_experiment(experiment(tmp_path, TINY.replace("seeds: 2", "seeds: 3")))
    report = run_plan(bigger, tmp_path / "res", workers=0, progress=False)
    assert (report.planned, report.already, report.ran) == (6, 4, 2)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "res" / "runs").iterdir()}
    assert {k: after[k] for k in before} == before


def test_failures_are_recorded_and_the_batch_goes_on(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    report = run_plan(plan, tmp_path / "res", workers=0, progress=False, task=fails_on_seed_2)
    assert (report.ok_total, report.failed_total) == (2, 2)
    summaries = load_summaries(tmp_path / "res")
    failed = summaries[summaries.status == "failed"]
    assert list(failed.seed) == [2, 2]
    assert failed.error.str.contains("ValidationError").all()
    again = run_plan(plan, tmp_path / "res", workers=0, progress=False)
    assert (again.ran, again.failed_total) == (0, 2)  # failures count as finished...
    retried = run_plan(plan, tmp_path / "res", workers=0, progress=False, retry_failed=True)
    assert (retried.ran, retried.ok_total, retried.failed_total) == (2, 4, 0)  # ...until retried


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = experiment(tmp_path)
    code, out, err = cli(
        "batch", str(path), "--out", str(tmp_path / "ok"), "--workers", "0", "--no-progress"
    )
    assert code == 0, err
    assert "4 runs, 4 ok, 0 failed" in out
    code, out, _ = cli("results", str(tmp_path / "ok"))
    assert code == 0 and "levers/guarantee_cap" in out and "1,2" in out
    monkeypatch.setattr(analysis.batch, "execute", fails_on_seed_2)
    code, out, err = cli(
        "batch", str(path), "--out", str(tmp_path / "some"), "--workers", "0", "--no-progress"
    )
    assert code == 1
    assert "2 ok, 2 failed" in out and "failed x2: ValidationError" in err
    code, out, _ = cli("results", str(tmp_path / "some"))
    assert code == 0 and "failed x2" in out


def test_results_exports_one_row_per_run(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    run_plan(plan, tmp_path / "res", workers=0, progress=False)
    for name in ("s.csv", "s.parquet"):
        code, out, err = cli("results", str(tmp_path / "res"), "--export", str(tmp_path / name))
        assert code == 0, err
        assert f"wrote 4 run summaries to {tmp_path / name}" in out.replace("\n", "")
    exported = pd.read_parquet(tmp_path / "s.parquet")
    assert len(exported) == 4 and "tier1.credit_access_rate" in exported.columns
    assert list(pd.read_csv(tmp_path / "s.csv").seed) == list(exported.seed)
    code, _, err = cli("results", str(tmp_path / "res"), "--export", str(tmp_path / "s.xlsx"))
    assert code == 2 and "must end in .csv or .parquet" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["batch", "{bad}", "--out", "{out}"], "seeds: a count must be between"),
        (["batch", "{missing}", "--out", "{out}"], "experiment file not found"),
        (
            ["batch", "{good}", "--out", "{out}", "--workers", "2", "--scheduler", "tcp://x:1"],
            "not both",
        ),
        (["batch", "{good}", "--out", "{notstore}"], "not an scf results store"),
        (["results", "{out}"], "not an scf results store"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    names = {
        "bad": experiment(tmp_path, TINY.replace("seeds: 2", "seeds: 0"), "bad.yaml"),
        "good": experiment(tmp_path),
        "missing": tmp_path / "missing.yaml",
        "out": tmp_path / "out",
        "notstore": tmp_path / "notstore",
    }
    (tmp_path / "notstore").mkdir()
    (tmp_path / "notstore" / "data.csv").write_text("keep")
    code, out, err = cli(*(a.format(**names) for a in args))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in (tmp_path / "notstore").iterdir()) == ["data.csv"]


# ------------------------------------------------------------------- end to end (slow)

E2E = (
    "description: end to end\nscenarios: [baselines/core_led, levers/guarantee_cap]\n"
    "seeds: 6\nmonths: 8\nset:\n  population.n_smes: 500\n"
)
# runs long enough (0.13-0.15 s of CPU each, measured) that an interruption lands mid-batch
LONGER = (
    E2E.replace("seeds: 6", "seeds: 10")
    .replace("months: 8", "months: 12")
    .replace("n_smes: 500", "n_smes: 1500")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scf(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*SCF, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def dask_cluster():
    """A real `dask scheduler` and `dask worker` (2 processes) on 127.0.0.1 free ports."""
    from distributed import Client

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",  # as docs/STORE.md advises
    }
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s", set_as_default=False) as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_identical_results_on_1_and_2_workers_and_a_remote_cluster(
    tmp_path: Path, dask_cluster: str
) -> None:
    path = experiment(tmp_path, E2E, "e2e.yaml")
    stores = {}
    for label, extra in (
        ("one", ["--workers", "1"]),
        ("two", ["--workers", "2"]),
        ("remote", ["--scheduler", dask_cluster]),
    ):
        done = scf("batch", str(path), "--out", str(tmp_path / label), "--no-progress", *extra)
        assert done.returncode == 0, done.stderr
        assert "12 runs, 12 ok, 0 failed" in done.stdout
        stores[label] = digest(tmp_path / label)
    assert len(stores["one"]) == 12
    assert stores["one"] == stores["two"] == stores["remote"]
    serial = run_plan(load_experiment(path), tmp_path / "serial", workers=0, progress=False)
    assert serial.ok_total == 12 and digest(tmp_path / "serial") == stores["one"]
    pd.testing.assert_frame_equal(
        load_summaries(tmp_path / "one"), load_summaries(tmp_path / "remote")
    )


def interrupt_after(
    path: Path, out: Path, runs: int, sig: signal.Signals, *extra: str
) -> tuple[int, str]:
    """Start `scf batch` on 2 local workers, send `sig` once `runs` runs are stored."""
    proc = subprocess.Popen(
        [*SCF, "batch", str(path), "--out", str(out), "--workers", "2", "--no-progress", *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list((out / "runs").glob("*.parquet"))) < runs:
            assert proc.poll() is None, "the batch finished before it could be interrupted"
            assert time.monotonic() < deadline, f"not {runs} runs stored within 240 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err


@pytest.mark.slow
def test_kill_9_mid_batch_then_resume_gives_the_uninterrupted_store(tmp_path: Path) -> None:
    path = experiment(tmp_path, LONGER, "e2e.yaml")
    out = tmp_path / "killed"
    code, _ = interrupt_after(path, out, 3, signal.SIGKILL)
    assert code == -signal.SIGKILL
    stored = digest(out)
    assert 3 <= len(stored) < 20
    for run in (out / "runs").glob("*.parquet"):  # every stored file is complete
        assert len(pd.read_parquet(run)) == 12 * len(GROUPS)
    resumed = scf("batch", str(path), "--out", str(out), "--no-progress", "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "20 runs, 20 ok, 0 failed" in resumed.stdout
    assert f"{len(stored)} already stored" in resumed.stdout
    assert not list((out / "tmp").iterdir())
    whole = run_plan(load_experiment(path), tmp_path / "whole", workers=0, progress=False)
    assert whole.ok_total == 20
    assert digest(out) == digest(tmp_path / "whole")
    assert {k: digest(out)[k] for k in stored} == stored


def raises_outside_execute(meta: dict) -> dict:
    """A task that fails the way a lost worker or a broken environment does: not as data."""
    if meta["seed"] == 2:
        raise ModuleNotFoundError("No module named 'simulation'")
    return EXECUTE(meta)


@pytest.mark.slow
def test_runs_the_cluster_loses_stay_pending_and_are_retried(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    report = run_plan(
        plan, tmp_path / "res", workers=1, progress=False, task=raises_outside_execute
    )
    assert (report.ok_total, report.failed_total, report.lost) == (2, 0, 2)
    assert "ModuleNotFoundError" in report.lost_error
    assert set(load_plan(tmp_path / "res").status) == {"ok", "pending"}
    again = run_plan(plan, tmp_path / "res", workers=1, progress=False)
    assert (again.already, again.ran, again.ok_total, again.lost) == (2, 2, 4, 0)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path: Path) -> None:
    path = experiment(tmp_path, LONGER, "e2e.yaml")
    out = tmp_path / "res"
    code, err = interrupt_after(path, out, 2, signal.SIGINT)
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err
    assert not list((out / "tmp").iterdir())
    resumed = scf("batch", str(path), "--out", str(out), "--no-progress", "--workers", "2")
    assert resumed.returncode == 0 and "20 runs, 20 ok, 0 failed" in resumed.stdout


@pytest.mark.slow
def test_bad_experiment_through_the_real_cli(tmp_path: Path) -> None:
    bad = experiment(
        tmp_path, TINY.replace("population.n_smes: 60", "population.n_smes: 5"), "bad.yaml"
    )
    done = scf("batch", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "population.n_smes: must be >= 10" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    unreachable = scf(
        "batch",
        str(experiment(tmp_path)),
        "--out",
        str(tmp_path / "out"),
        "--scheduler",
        f"tcp://127.0.0.1:{free_port()}",
        timeout=120,
    )
    assert unreachable.returncode == 2, unreachable.stderr
    assert unreachable.stderr.startswith("error: --scheduler") and not (tmp_path / "out").exists()
