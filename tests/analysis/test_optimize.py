"""Policy search: bad specs refused in one line, a known answer found, resumption, and
reproducible points."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.evaluate import Evaluator, evaluate
from analysis.optimize import RUNS_DIR, load_problem, open_study, prepare, search
from analysis.pareto import export_points, pareto_front, recheck, trials_frame
from simulation.scenario import ConfigError, load_scenario, with_overrides

SCF = [sys.executable, "-c", "from analysis.cli import entry; entry()"]
SMALL = "population.n_smes: 200"
SPEC = f"""
description: cheapest arrears enforcement that keeps lost output under a target
scenario: baselines/shanghai
set:
  {SMALL}
months: 12
seeds: 2
levers:
  payment.enforcement: {{low: 0, high: 1, step: 0.25}}
objectives:
  - minimize: public_cost_arrears
constraints:
  - lost_output <= TARGET
sampler: tpe
trials: 10
batch: 2
recheck:
  seeds: 2
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec(target: float = 1e9, **replace: str) -> str:
    text = SPEC.replace("TARGET", f"{target:.6f}")
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (("payment.enforcement:", "payment.nope:"), "levers.payment.nope: unknown parameter"),
        (("{low: 0, high: 1, step: 0.25}", "[0.5, 0.5]"), "empty range"),
        (("{low: 0, high: 1, step: 0.25}", "[0, 3]"), "outside the schema (>= 0 and <= 1)"),
        (("{low: 0, high: 1, step: 0.25}", "{choices: []}"), "at least two values"),
        (("lost_output <= ", "credit_access_rate >= 1.5 #"), "is impossible"),
        (("lost_output <= ", "lost_output <= -1 #"), "never below 0"),
        (("lost_output <= ", "lost_output >= 5\n  - lost_output <= 2 #"), "cannot both hold"),
        (("lost_output <= ", "lost_output = "), "write METRIC <= NUMBER"),
        (("minimize: public_cost_arrears", "minimize: nonsense"), "not a summary metric"),
        (("sampler: tpe", "sampler: annealing"), "sampler"),
        (("trials: 10", "trials: 0"), "trials"),
        (("baselines/shanghai", "baselines/nowhere"), "scenario: baselines/nowhere"),
        (("months: 12", "months: 12\nlevers2: 1"), "unknown field"),
    ],
)
def test_bad_specs_end_in_one_line_with_exit_2(tmp_path: Path, edit, fragment: str) -> None:
    text = spec().replace(*edit)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_problem(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["optimize", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert not (tmp_path / "o").exists()  # no partial output


def test_a_bool_lever_takes_choices_and_a_lever_cannot_also_be_set(tmp_path: Path) -> None:
    text = spec().replace("  payment.enforcement:", "  bank.gov_data: [false, true]\n  "
                          "payment.enforcement:")  # fmt: skip
    problem = load_problem(write(tmp_path, text))
    assert problem.levers[0].choices == (False, True)
    bad = spec().replace(SMALL, f"{SMALL}\n  payment.enforcement: 0.5")
    with pytest.raises(ConfigError, match="also a lever"):
        load_problem(write(tmp_path, bad, "b.yaml"))
    with pytest.raises(ConfigError, match="is .*: give choices"):
        load_problem(write(tmp_path, text.replace("[false, true]", "{low: 0, high: 1}"), "c.yaml"))


def test_the_optimiser_finds_the_cheapest_enforcement_that_meets_a_target(tmp_path: Path) -> None:
    """One monotone lever: the cheapest value reaching a target, checked against a grid."""
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    base = load_scenario("baselines/shanghai", {"population.n_smes": 200})
    configs = [with_overrides(base, {"payment.enforcement": g}) for g in grid]
    frame = evaluate(configs, [1, 2], months=12, workers=0)
    lost = frame.groupby("index").lost_output.mean().to_numpy()
    cost = frame.groupby("index").public_cost_arrears.mean().to_numpy()
    assert (lost[1:] < lost[:-1]).all() and (cost[1:] > cost[:-1]).all()  # monotone, as assumed
    target = (lost[1] + lost[2]) / 2  # 0.25 misses it, 0.5 meets it: the answer is 0.5
    problem = load_problem(write(tmp_path, spec(target)))
    out = tmp_path / "study"
    prepare(problem, out)
    with Evaluator(out / RUNS_DIR, workers=0) as ev:
        report = search(problem, out, ev)
        trials = trials_frame(open_study(problem, out, create=False), problem)
        front = pareto_front(trials, problem)
        checked = recheck(front, problem, ev)
    assert report.finished == 10 and len(trials) == 10
    assert list(front["payment.enforcement"]) == [0.5]
    feasible = set(trials[trials.feasible]["payment.enforcement"])
    assert feasible == {g for g, v in zip(grid, lost, strict=True) if v <= target} & set(
        trials["payment.enforcement"]
    )
    row = checked.iloc[0]
    assert row.seeds == 2 and row.public_cost_arrears_low <= row.public_cost_arrears
    assert row.public_cost_arrears_effect > 0  # costs more than the base (no enforcement)


def test_a_pareto_point_file_reproduces_its_numbers_with_scf_run(tmp_path: Path) -> None:
    text = spec().replace("trials: 10", "trials: 2")
    problem = load_problem(write(tmp_path, text))
    out = tmp_path / "study"
    prepare(problem, out)
    with Evaluator(out / RUNS_DIR, workers=0) as ev:
        search(problem, out, ev)
    trials = trials_frame(open_study(problem, out, create=False), problem)
    front = pareto_front(trials, problem)
    (path,) = export_points(front.head(1), problem, out)
    runs = []
    for seed in problem.seeds:
        result = CliRunner().invoke(app, ["run", str(path), "--seed", str(seed), "--json"])
        assert result.exit_code == 0, result.stderr
        runs.append(json.loads(result.stdout))
    point = front.iloc[0]
    for metric in ("public_cost_arrears", "lost_output", "public_cost", "credit_access_rate"):
        assert point[metric] == pytest.approx(sum(r[metric] for r in runs) / len(runs), rel=1e-12)


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_and_resume_continues_the_same_study(tmp_path: Path) -> None:
    path = write(
        tmp_path, spec().replace("trials: 10", "trials: 8").replace("batch: 2", "batch: 1")
    )
    out = tmp_path / "study"
    cmd = [*SCF, "optimize", str(path), "--out", str(out), "--workers", "0", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 240
    while _finished(out / "study.db") < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    problem = load_problem(path)
    before = trials_frame(open_study(problem, out, create=False), problem)
    assert 2 <= len(before) < 8
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming the study" in again.stderr
    study = open_study(problem, out, create=False)
    after = trials_frame(study, problem)
    assert len(after) == 8  # the budget is finished trials, old and new
    old = after[after.trial.isin(before.trial)]
    pd.testing.assert_frame_equal(old.reset_index(drop=True), before.reset_index(drop=True))
    assert len(study.get_trials()) >= 8 and (out / "front.parquet").exists()
    # a different spec in the same directory is refused
    other = write(tmp_path, path.read_text().replace("seeds: 2\n", "seeds: 3\n", 1), "other.yaml")
    refused = subprocess.run([*cmd[:4], str(other), *cmd[5:]], capture_output=True, text=True)
    assert refused.returncode == 2 and "different spec" in refused.stderr


def test_the_shipped_specs_are_valid() -> None:
    from simulation.scenario import SCENARIO_DIR

    specs = sorted((SCENARIO_DIR / "optimize").glob("*.yaml"))
    assert specs, "the README's example spec is shipped"
    for path in specs:
        problem = load_problem(path)
        assert problem.levers and problem.objectives and problem.recheck_seeds
