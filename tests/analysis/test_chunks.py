"""Runs handed to workers in chunks: the sizes, a failing run fails alone, a worker that dies
mid-chunk has the chunk's runs retried one by one, and (slow) nothing stored depends on the
chunk size: serial, 2 workers with chunks of 1, 3 and the automatic sizes, and after kill -9."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.batch import execute, run_plan
from analysis.chunks import (
    AUTO_MAX,
    AUTO_SECONDS,
    MAX_CHUNK,
    SME_MONTHS_PER_SECOND,
    chunk_sizes,
    run_chunk,
    run_seconds,
    split,
)
from analysis.experiment import load_experiment
from analysis.store import load_summaries
from tests.analysis.test_batch import (
    LONGER,
    TINY,
    cli,
    digest,
    experiment,
    fails_on_seed_2,
    interrupt_after,
    scf,
)

# 3 scenarios x 4 seeds: chunks of 3 and the automatic sizes (4, 3, 2, 1, ... on 2 workers)
# each put runs of two scenarios into one chunk
TWELVE = TINY.replace(
    "scenarios: [baselines/core_led, levers/guarantee_cap]",
    "scenarios: [baselines/core_led, levers/guarantee_cap, levers/data_sharing]",
).replace("seeds: 2", "seeds: 4")


@given(st.integers(0, 3000), st.integers(1, 64))
def test_automatic_chunks_cover_every_run_and_shrink_to_one(runs: int, workers: int) -> None:
    sizes = chunk_sizes(runs, workers)
    assert sum(sizes) == runs
    assert all(1 <= s <= AUTO_MAX for s in sizes)
    assert sizes == sorted(sizes, reverse=True)  # large first, small at the end
    if runs:
        assert sizes[-1] == 1  # the workers finish together
    # no chunk is more than a 1/(4 x workers) share (rounded up) of the runs left at its turn
    left = runs
    for s in sizes:
        assert s <= max(1, -(-left // (4 * workers)))
        left -= s


def test_the_main_job_on_2_workers_is_47_tasks_not_272() -> None:
    sizes = chunk_sizes(272, 2)
    assert len(sizes) == 47 and sizes[:26] == [8] * 26 and sizes[-8:] == [1] * 8
    # its runs (1,000 SMEs x 24 months) are cheap: the estimate of work changes nothing
    assert chunk_sizes(272, 2, run_cost=run_seconds(1000, 24)) == sizes


@given(st.integers(0, 3000), st.integers(1, 64), st.integers(10, 2_000_000),
       st.integers(1, 120))
def test_automatic_chunks_hold_about_two_seconds_of_work_at_most(
        runs: int, workers: int, smes: int, months: int) -> None:
    """Long runs go one to a task, so an interrupted batch loses little finished work."""
    cost = run_seconds(smes, months)
    sizes = chunk_sizes(runs, workers, run_cost=cost)
    assert sum(sizes) == runs and all(s >= 1 for s in sizes)
    assert all(s == 1 or s * cost <= AUTO_SECONDS for s in sizes)
    assert chunk_sizes(runs, workers, 3, run_cost=cost) == chunk_sizes(runs, workers, 3)
    if smes * months >= 2 * SME_MONTHS_PER_SECOND:  # 10,000 SMEs x 200 months, 50,000 x 40
        assert set(sizes) <= {1}


@given(st.integers(0, 500), st.integers(1, 40))
def test_fixed_chunks_hold_that_many_runs_the_last_what_is_left(runs: int, size: int) -> None:
    sizes = chunk_sizes(runs, 2, size)
    assert sum(sizes) == runs and all(s == size for s in sizes[:-1])
    assert split(list(range(runs)), sizes) == [
        list(range(i, min(i + size, runs))) for i in range(0, runs, size)
    ]


@pytest.mark.parametrize("bad", [0, -3, MAX_CHUNK + 1])
def test_a_bad_chunk_size_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, bad: int) -> None:
    out = tmp_path / "out"
    code, _, err = cli(
        "batch", str(experiment(tmp_path)), "--out", str(out), "--workers", "0",
        "--chunk-size", str(bad),
    )  # fmt: skip
    assert code == 2
    assert err == f"error: --chunk-size: must be between 1 and 10,000 (got {bad})\n"
    assert not out.exists()


def test_a_failing_run_in_a_chunk_fails_alone(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    metas = [s.meta() for s in plan.specs]
    outcomes = run_chunk(fails_on_seed_2, metas)
    assert [o["ok"] for o in outcomes] == [m["seed"] != 2 for m in metas]
    assert all("ValidationError" in o["error"] for o in outcomes if not o["ok"])
    assert all(not o.get("lost") for o in outcomes)  # recorded as failed, not left pending


def raises_on_seed_2(meta: dict) -> dict:
    """A task that fails outside `execute`, as a worker that cannot import the model does."""
    if meta["seed"] == 2:
        raise ModuleNotFoundError("No module named 'simulation'")
    return execute(meta)


def test_an_error_outside_the_run_loses_that_run_only(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path))
    metas = [s.meta() for s in plan.specs]
    outcomes = run_chunk(raises_on_seed_2, metas)
    assert [o["ok"] for o in outcomes] == [m["seed"] != 2 for m in metas]
    lost = [o for o in outcomes if not o["ok"]]
    assert lost and all(o["lost"] and o["error"].startswith("ModuleNotFoundError") for o in lost)


# ------------------------------------------------------------------- end to end (slow)


@pytest.mark.slow
def test_the_store_is_byte_identical_whatever_the_chunk_size(tmp_path: Path) -> None:
    plan = load_experiment(experiment(tmp_path, TWELVE))
    serial = run_plan(plan, tmp_path / "serial", workers=0, progress=False)
    assert serial.ok_total == 12
    expected = digest(tmp_path / "serial")
    for size in (1, 3, None):
        out = tmp_path / f"chunks-{size}"
        report = run_plan(plan, out, workers=2, progress=False, chunk_size=size)
        assert (report.ok_total, report.failed_total, report.lost) == (12, 0, 0)
        assert digest(out) == expected, f"chunk size {size}"
        assert load_summaries(out).equals(load_summaries(tmp_path / "serial"))


def dies_on_seed_2(meta: dict) -> dict:
    """A task whose worker process dies (no exception, no clean-up) on the runs of seed 2."""
    if meta["seed"] == 2:
        os._exit(1)
    return execute(meta)


@pytest.mark.slow
@pytest.mark.parametrize(
    "task, error",
    [
        (fails_on_seed_2, "ValidationError"),
        # the chunk's worker dies at its second run every time, so the chunk ends as
        # KilledWorker; then each of its runs is run alone, and only the culprits fail
        (dies_on_seed_2, "KilledWorker"),
    ],
)
def test_a_run_that_fails_or_kills_its_worker_in_a_chunk_fails_alone(
    tmp_path: Path, task: Callable[[dict], dict], error: str
) -> None:
    plan = load_experiment(experiment(tmp_path))  # core-led seeds 1, 2, guarantee_cap 1, 2
    out = tmp_path / "res"
    report = run_plan(plan, out, workers=2, progress=False, chunk_size=4, task=task)
    assert (report.ok_total, report.failed_total, report.lost) == (2, 2, 0)
    summaries = load_summaries(out)
    assert sorted(summaries[summaries.status == "ok"].seed) == [1, 1]
    failed = summaries[summaries.status == "failed"]
    assert list(failed.seed) == [2, 2] and failed.error.str.startswith(error).all()
    calm = run_plan(plan, tmp_path / "calm", workers=0, progress=False)
    assert calm.ok_total == 4
    ok = {k: v for k, v in digest(tmp_path / "calm").items() if k in digest(out)}
    assert digest(out) == ok and len(ok) == 2  # the neighbours' files are the undisturbed ones


@pytest.mark.slow
def test_kill_9_mid_batch_in_chunks_of_3_then_resume_gives_the_uninterrupted_store(
    tmp_path: Path,
) -> None:
    path = experiment(tmp_path, LONGER, "e2e.yaml")
    out = tmp_path / "killed"
    code, _ = interrupt_after(path, out, 3, signal.SIGKILL, "--chunk-size", "3")
    assert code == -signal.SIGKILL
    stored = digest(out)
    assert 3 <= len(stored) < 20
    resumed = scf(
        "batch", str(path), "--out", str(out), "--no-progress", "--workers", "2",
        "--chunk-size", "3",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"20 runs, 20 ok, 0 failed ({20 - len(stored)} run now" in resumed.stdout
    assert f"{len(stored)} already stored" in resumed.stdout
    whole = run_plan(load_experiment(path), tmp_path / "whole", workers=0, progress=False)
    assert whole.ok_total == 20 and digest(out) == digest(tmp_path / "whole")
    assert {k: digest(out)[k] for k in stored} == stored
