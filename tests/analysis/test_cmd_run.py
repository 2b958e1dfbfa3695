"""`scf run` end to end, as a user runs it (subprocess)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from simulation.metrics import GROUPS
from simulation.scenario import load_scenario

SCF = [sys.executable, "-m", "analysis"]
pytestmark = pytest.mark.slow


def scf(*args, cwd=None):
    return subprocess.run([*SCF, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_run_writes_tidy_frame_summary_and_resolved_scenario(tmp_path):
    out = tmp_path / "run"
    p = scf(
        "run",
        "baselines/core_led",
        "--seed",
        "2",
        "--months",
        "6",
        "--set",
        "population.n_smes=200",
        "--set",
        "core.data_sharing=0.7",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    assert "credit access" in p.stdout
    df = pd.read_parquet(out / "monthly.parquet")
    summary = json.loads((out / "summary.json").read_text())
    # the instrument table: every instrument, its rate as printed, n/a where unused
    rates = summary["rate_by_instrument"]
    assert "credit by instrument" in p.stdout
    for name, rate in rates.items():
        line = next(x for x in p.stdout.splitlines() if name.replace("_", " ") in x)
        assert ("n/a" if rate is None else f"{rate:.2%}") in line
    assert df.month.max() == 6 and set(df.group) == set(GROUPS)
    assert {"all", "tier1", "tier2", "distributor", "size_micro", "risk_high"} <= set(GROUPS)
    cfg = load_scenario(out / "scenario.yaml")
    assert cfg.core.data_sharing == 0.7 and cfg.population.n_smes == 200
    # the resolved scenario reproduces the run exactly
    again = scf("run", str(out / "scenario.yaml"), "--seed", "2", "--months", "6", "--json")
    assert again.returncode == 0, again.stderr
    replay = json.loads(again.stdout)
    assert replay == {k: v for k, v in summary.items() if k not in ("seed", "months")}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["--set", "core.confirm_willingness=1.5"],
            "core.confirm_willingness: must be >= 0 and <= 1",
        ),
        (["--set", "guarantor.nope=3"], "guarantor.nope: unknown parameter"),
        (["--set", "payment.term_months=x"], "payment.term_months: must be >= 1 and <= 12"),
        (["--months", "0"], "--months"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, args, fragment):
    out = tmp_path / "never"
    p = scf("run", "baselines/core_led", "--out", str(out), *args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_malformed_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\ncore: {confirm_willingness: [\n")
    p = scf("run", str(bad))
    assert p.returncode == 2 and "malformed YAML" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_help_has_an_example():
    p = scf("run", "--help")
    assert p.returncode == 0 and "Example: scf run" in p.stdout
