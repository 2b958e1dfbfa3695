"""Output locations: unwritable, under a file, or too small: one line, exit 2, checked before
any work; a disk that fills mid-batch: one line, exit 2, the finished runs kept and whole."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis import outputs
from analysis.batch import run_plan
from analysis.cli import app
from analysis.experiment import load_experiment
from analysis.store import Store

TINY = (
    "description: tiny\nscenarios: [baselines/core_led, levers/guarantee_cap]\nseeds: 2\n"
    "months: 3\nset:\n  population.n_smes: 60\n"
)


def scf(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    assert 1 <= err.count("\n") <= 3 and "Traceback" not in err and err.startswith("error: "), err
    return err


def digest(store: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_out_inside_a_file_is_refused_before_any_work(tmp_path: Path, exp: Path) -> None:
    (tmp_path / "afile").write_text("keep")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub" / "store"):
        code, _, err = scf("batch", exp, "--out", out, "--workers", "0")
        assert code == 2 and "not a directory" in one_line(err)
        code, _, err = scf("run", "baselines/core_led", "--months", "2", "--out", out / "r")
        assert code == 2 and "is inside" in one_line(err) and "a file" in err
    assert (tmp_path / "afile").read_text() == "keep"


def test_unwritable_out_is_refused_before_any_work(
    tmp_path: Path, exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != locked and real(p, m))
    for args in (("batch", exp, "--out", locked / "store", "--workers", "0"),
                 ("run", "baselines/core_led", "--months", "2", "--out", locked / "r")):
        code, _, err = scf(*args)
        assert code == 2 and "not writable" in one_line(err)
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_directory_for_real(tmp_path: Path, exp: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = scf("batch", exp, "--out", locked / "store", "--workers", "0")
        assert code == 2 and "not writable" in one_line(err)
    finally:
        locked.chmod(0o700)


def test_too_little_free_space_is_refused_before_any_work(
    tmp_path: Path, exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 100_000, 100_000))
    code, _, err = scf("batch", exp, "--out", tmp_path / "store", "--workers", "0")
    assert code == 2 and "needs about 0.2 MB" in one_line(err) and "0.1 MB is free" in err
    assert not (tmp_path / "store").exists()
    assert outputs.run_bytes(3) * 4 == 204_000  # 4 runs of 3 months


def test_a_disk_that_fills_mid_batch_ends_in_one_line_keeping_finished_runs(
    tmp_path: Path, exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = tmp_path / "clean"
    run_plan(load_experiment(exp), clean, workers=0, progress=False)
    real = Store.write_encoded
    written: list[str] = []

    def fills_after_two(self: Store, rid: str, data: bytes) -> Path:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(rid)
        return real(self, rid, data)

    monkeypatch.setattr(Store, "write_encoded", fills_after_two)
    store = tmp_path / "store"
    code, _, err = scf("batch", exp, "--out", store, "--workers", "0", "--no-progress")
    assert code == 2 and "the disk is full" in one_line(err) and "kept" in err
    assert sorted(p.stem for p in (store / "runs").iterdir()) == sorted(written)
    assert Store.open(store).damaged_runs() == {} and list((store / "tmp").iterdir()) == []
    monkeypatch.setattr(Store, "write_encoded", real)
    code, out, _ = scf("batch", exp, "--out", store, "--workers", "0", "--no-progress")
    assert code == 0 and "2 already stored" in out
    assert digest(store) == digest(clean)


def test_scf_run_write_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analysis.cmd_run as cmd_run

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cmd_run, "write_run", full)
    code, _, err = scf("run", "baselines/core_led", "--months", "2", "--set",
                       "population.n_smes=60", "--out", tmp_path / "r")
    assert code == 2 and "the disk is full" in one_line(err)
    assert not (tmp_path / "r").exists()
