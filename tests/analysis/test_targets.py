"""Targets files: the schema, the quantities they compute, and one-line errors with exit 2."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.targets import load_targets, monthly_metrics, summary_metrics
from simulation.scenario import SCENARIO_DIR, ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = SCENARIO_DIR / "calibration" / "shanghai_2020.yaml"

GOOD = {
    "description": "a small file for tests",
    "baseline": "baselines/shanghai",
    "scenarios": {"pre": "packages/pre_policy", "pkg": "packages/policy_package"},
    "set": {"population.n_smes": 100},
    "months": 6,
    "fitted": ["rate"],
    "held_out": ["drop", "growth"],
    "parameters": {"bank.margin": {"low": 0.005, "high": 0.04},
                   "population.sales_median": {"prior": "loguniform", "low": 10, "high": 200}},
    "abc": {"population": 10, "budget": 30},
    "targets": [
        {"name": "rate", "study": "6.63%", "line": "228", "value": 0.0663, "unit": "pct",
         "tolerance": 0.002, "quantity": {"scenario": "pre", "metric": "avg_loan_rate"}},
        {"name": "drop", "study": "-1.46 points", "line": "228", "value": 0.0146, "unit": "pt",
         "tolerance": 0.002, "quantity": {"scenario": "pre", "metric": "avg_loan_rate",
                                          "vs": {"scenario": "pkg"}}},
        {"name": "growth", "study": "+37%", "line": "226", "value": 0.37, "unit": "pct",
         "tolerance": 0.05, "quantity": {"scenario": "pkg", "metric": "funded", "month": 6,
                                         "vs": {"month": 1}, "op": "relative_change"}},
    ],
}


def write(tmp_path: Path, data: dict, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_good_file_resolves_roles_terms_and_scenarios(tmp_path):
    t = load_targets(write(tmp_path, GOOD))
    assert [x.role for x in t.targets] == ["fitted", "held_out", "held_out"]
    drop = t.targets[1]
    assert drop.op == "difference" and drop.second.scenario == "pkg"
    assert drop.second.metric == "avg_loan_rate"  # inherited from the first term
    growth = t.targets[2]
    assert (growth.first.month, growth.second.month, growth.op) == (6, 1, "relative_change")
    assert t.configs["pre"].population.n_smes == 100 and t.months == 6
    assert t.scenarios_for(t.of_role("fitted")) == ("pre",)
    assert [p.kind for p in t.priors] == ["float", "float"]
    assert t.priors[1].from_internal(t.priors[1].to_internal(50.0)) == pytest.approx(50.0)


class _Run:
    def __init__(self, monthly: pd.DataFrame, summary: dict) -> None:
        self.monthly, self.summary = monthly, summary


def test_quantities_and_distances_compute_what_they_say(tmp_path):
    t = load_targets(write(tmp_path, GOOD))
    months = np.arange(1, 7)
    monthly = pd.DataFrame({"month": months, "group": "all", "funded": 100.0 * months})
    pre = _Run(monthly, {"avg_loan_rate": 0.07, "by_group": {}})
    pkg = _Run(monthly, {"avg_loan_rate": 0.06, "by_group": {}})
    rate, drop, growth = (x.value({"pre": pre, "pkg": pkg}) for x in t.targets)
    assert rate == 0.07
    assert drop == pytest.approx(0.01)
    assert growth == pytest.approx(600 / 100 - 1)
    assert t.targets[0].distance(0.0683) == pytest.approx(1.0)


def test_thresholds_count_only_when_missed(tmp_path):
    data = copy.deepcopy(GOOD)
    data["targets"][0].update(bound=">=", value=5.0, tolerance=1.0)
    t = load_targets(write(tmp_path, data))
    assert t.targets[0].distance(7.0) == 0.0 and t.targets[0].distance(3.0) == 2.0


def _broken(change) -> dict:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


BAD = {
    "unknown metric": (
        _broken(lambda d: d["targets"][0]["quantity"].update(metric="loan_happiness")),
        "targets[0] (rate).quantity.metric: unknown summary metric 'loan_happiness'"),
    "prior outside the schema's range": (
        _broken(lambda d: d["parameters"]["bank.margin"].update(high=0.5)),
        "parameters.bank.margin: prior high end must be within the schema's range, >= 0 and "
        "<= 0.2 (got 0.5)"),
    "no held-out figure": (
        _broken(lambda d: (d.update(held_out=[], fitted=["rate", "drop", "growth"]))),
        "held_out: at least one figure must be held out"),
    "duplicate names": (
        _broken(lambda d: d["targets"][2].update(name="drop")),
        "targets: duplicate name 'drop'"),
    "undeclared role": (
        _broken(lambda d: d.update(held_out=["drop"])),
        "targets growth: declare each as fitted or held_out up front"),
    "unknown parameter": (
        _broken(lambda d: d["parameters"].update({"bank.marign": {"low": 0, "high": 1}})),
        "parameters.bank.marign: unknown parameter"),
    "month after the runs": (
        _broken(lambda d: d["targets"][2]["quantity"].update(month=9)),
        "month 9 is after the runs' last month (6)"),
    "unknown scenario key": (
        _broken(lambda d: d["targets"][1]["quantity"]["vs"].update(scenario="post")),
        "targets[1] (drop).quantity.vs.scenario: must be a key of scenarios: (pre, pkg)"),
    "a scenario sets a free parameter": (
        _broken(lambda d: d["parameters"].update({"guarantor.fee_rate": {"low": 0.001,
                                                                         "high": 0.05}})),
        "parameters.guarantor.fee_rate: scenario pkg sets it"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_refused_in_one_line(tmp_path, case):
    data, fragment = BAD[case]
    with pytest.raises(ConfigError) as err:
        load_targets(write(tmp_path, data))
    message = str(err.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("case", ["unknown metric", "prior outside the schema's range",
                                  "no held-out figure", "duplicate names"])
def test_scf_calibrate_ends_bad_files_with_one_line_and_exit_2(tmp_path, case):
    data, fragment = BAD[case]
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-m", "analysis", "calibrate", str(write(tmp_path, data)), "--out",
         str(out), "--workers", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and fragment in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()  # no partial output


def test_shipped_targets_file_validates_against_the_models_metrics():
    """The shipped file must name metrics the model on this checkout reports."""
    if not SHIPPED.exists():
        pytest.skip("scenarios/calibration/shanghai_2020.yaml not shipped yet")
    data = yaml.safe_load(SHIPPED.read_text())
    known = set(summary_metrics()) | set(monthly_metrics())
    named = {t["quantity"]["metric"] for t in data["targets"]}
    assert named <= known, f"metrics the model does not report: {sorted(named - known)}"
    t = load_targets(SHIPPED)
    assert t.of_role("held_out") and t.of_role("fitted")
