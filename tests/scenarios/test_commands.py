"""`scf validate`, `scf scenarios list|show` and `scf replicate`, through the Typer app."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from analysis.cli import app
from analysis.replicate import FIGURES, Runs, evaluate, run_pair
from simulation.scenario import load_scenario

runner = CliRunner()


def scf(*args: str):
    return runner.invoke(app, list(args))


BROKEN = {
    "bad_yaml.yaml": (
        "description: x\ncore: {confirm_willingness: [\n",
        ["malformed YAML", "line"],
    ),
    "unknown_field.yaml": (
        "base: baselines/core_led\ncore:\n  confirm_willingnes: 0.5\n",
        ["core.confirm_willingnes", "unknown field"],
    ),
    "out_of_range.yaml": (
        "base: baselines/core_led\nguarantor:\n  fee_rate: 0.5\n",
        ["guarantor.fee_rate", ">= 0 and <= 0.2", "0.5"],
    ),
    "missing_base.yaml": (
        "base: baselines/atlantis\n",
        ["base:", "baselines/atlantis", "scenario not found"],
    ),
    "cycle_a.yaml": ("base: cycle_b.yaml\n", ["base:", "cyclic", "cycle_a.yaml -> cycle_b.yaml"]),
}


@pytest.fixture
def broken(tmp_path):
    for name, (text, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "cycle_b.yaml").write_text("base: cycle_a.yaml\n")
    return tmp_path


@pytest.mark.parametrize("name", BROKEN)
def test_validate_broken_file_exits_2_with_one_line_naming_file_field_and_value(broken, name):
    res = scf("validate", str(broken / name))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert str(broken / name) in lines[0] or name in lines[0]
    for fragment in BROKEN[name][1]:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in res.output


def test_validate_lists_every_problem_of_a_file_one_per_line(tmp_path):
    f = tmp_path / "many.yaml"
    f.write_text(
        "core:\n  data_sharing: 1.5\n  confirm_willingness: -1\npayment:\n  term_months: 0\n"
    )
    res = scf("validate", str(f))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3
    assert all(str(f) in line for line in lines)
    joined = "\n".join(lines)
    for fragment in (
        "core.data_sharing: must be >= 0 and <= 1 (got 1.5)",
        "core.confirm_willingness: must be >= 0 and <= 1 (got -1)",
        "payment.term_months: must be >= 1 and <= 12 (got 0)",
    ):
        assert fragment in joined


def test_validate_accepts_the_library_and_mixes_good_and_bad(broken):
    res = scf("validate", "scenarios/levers/guarantee_fee.yaml", "packages/policy_package")
    assert res.exit_code == 0, res.output
    assert "guarantee_fee.yaml: ok" in res.stdout
    res = scf("validate", "levers/one_stop", str(broken / "out_of_range.yaml"))
    assert res.exit_code == 2
    assert "levers/one_stop: ok" in res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


def test_scenarios_list_names_chain_type_and_description():
    res = scf("scenarios", "list")
    assert res.exit_code == 0, res.output
    for name in (
        "baselines/shanghai",
        "levers/guarantee_cap",
        "pilots/ic_order_financing",
        "packages/policy_package",
    ):
        assert name in res.stdout
    assert "mixed" in res.stdout and "core_led" in res.stdout


def test_scenarios_show_prints_the_resolved_yaml_that_runs_back(tmp_path):
    res = scf("scenarios", "show", "levers/guarantee_fee", "--set", "population.n_smes=300")
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(res.stdout)
    assert "base" not in data
    assert data["guarantor"]["fee_rate"] == 0.009 and data["population"]["n_smes"] == 300
    f = tmp_path / "resolved.yaml"
    f.write_text(res.stdout)
    assert load_scenario(f) == load_scenario("levers/guarantee_fee", {"population.n_smes": 300})


def test_scenarios_show_unknown_name_is_one_line_exit_2():
    res = scf("scenarios", "show", "levers/nothing_here")
    assert res.exit_code == 2
    assert "scenario not found" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def pair() -> Runs:
    return run_pair(seeds=2, months=12)


def test_replicate_speaks_only_where_the_model_can(pair):
    rows = {r.figure.label: r for r in evaluate(pair)}
    assert len(rows) == len(FIGURES)
    credit_only = rows["credit-only share of guarantees"]
    assert credit_only.mean is None and credit_only.text == "not modelled"
    for r in rows.values():
        assert r.figure.status in ("calibrated", "held out", "input", "not modelled")
        if r.figure.status in ("calibrated", "held out"):
            assert r.low <= r.mean <= r.high and len(r.values) == 2
    drop = rows["drop in the average SME loan rate"]
    before = rows["average SME loan rate before the package"].values
    after = rows["average SME loan rate after the package"].values
    assert drop.values == pytest.approx(100 * (before - after))  # paired seed by seed
    assert rows["guarantee fee"].text == "2.5% -> 0.9%"


def test_replicate_command_prints_figures_status_and_not_modelled():
    res = scf("replicate", "--seeds", "2", "--months", "12", "--json", "--no-year")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["year_2020"] == []
    by = {r["figure"]: r for r in out["figures"]}
    assert by["credit-only share of guarantees"]["model_text"] == "not modelled"
    assert by["drop in the average SME loan rate"]["status"] == "held out"
    assert by["average SME loan rate before the package"]["status"] == "calibrated"
    res = scf("replicate", "--seeds", "1")
    assert res.exit_code == 2
