"""scf compare --decompose: a package split into its levers, summing to its effect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.batch import run_plan
from analysis.cli import app
from analysis.compare import compare_store
from analysis.decompose import package_players
from analysis.experiment import load_experiment
from simulation.scenario import ConfigError, load_scenario

EXPERIMENT = """description: package and its starting point, tiny
scenarios: [packages/pre_policy, packages/policy_package]
seeds: 3
months: 6
set:
  population.n_smes: 120
"""


def test_the_package_is_grouped_by_the_library_lever_files() -> None:
    base = load_scenario("packages/pre_policy")
    players = package_players(base, load_scenario("packages/policy_package"))
    assert players["guarantor_mandate"] == {
        "guarantor.leverage_floor": 5.0,
        "guarantor.leverage_max": 10.0,
        "guarantor.payout_tolerance": 0.05,
    }
    assert set(players) == {
        "guarantee_cap", "guarantee_fee", "fee_waiver", "guarantor_mandate", "reimbursement",
        "gov_data", "late_payment_enforcement",
    }  # fmt: skip
    assert package_players(base, load_scenario("packages/pre_policy", {"core.markup": 0.2})) == {
        "core.markup": {"core.markup": 0.2}
    }
    with pytest.raises(ConfigError, match="same settings"):
        package_players(base, base)


@pytest.mark.slow
def test_decompose_sums_to_the_compared_effect_on_the_same_seeds(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(EXPERIMENT, encoding="utf-8")
    store = tmp_path / "store"
    run_plan(load_experiment(spec), store, workers=0, progress=False)
    args = ["compare", str(store), "-b", "packages/pre_policy", "-p", "packages/policy_package",
            "--decompose", "--workers", "0", "--metric", "credit_access_rate", "--metric",
            "public_cost"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["decomposition"]["packages/policy_package"]
    assert data["exact"] and len(data["levers"]) == 7 and data["runs"] == 128 * 3
    comparison = compare_store(store, "packages/pre_policy", ["packages/policy_package"])
    for metric in ("credit_access_rate", "public_cost"):
        total = next(t for t in data["totals"] if t["metric"] == metric)
        values = [v["value"] for v in data["values"] if v["metric"] == metric]
        effect = comparison.get("packages/policy_package", metric)["diff_mean"]
        assert total["total"] == pytest.approx(effect, rel=1e-9, abs=1e-12)
        assert sum(values) == pytest.approx(effect, rel=1e-9, abs=1e-9)
    # a second decomposition reads every run back from the store
    page = tmp_path / "split.html"
    again = CliRunner().invoke(app, [*args, "--report", str(page)])
    assert again.exit_code == 0, again.stderr
    assert "split by lever" in again.stdout and "interactions" in again.stdout
    assert "split by lever (Shapley, exact)" in page.read_text(encoding="utf-8")
