"""The dashboard's controls come from the one schema, and settings become valid scenarios."""

from __future__ import annotations

import pytest

from dashboards.controls import (
    LEVERS,
    RUN_CONTROLS,
    WAIVER_SECTORS,
    Settings,
    baseline_config,
    baseline_options,
    export_yaml,
    lever_overrides,
    lever_values,
    load_baseline,
    policy_config,
)
from simulation.config import ScenarioConfig
from simulation.scenario import PARAMETERS, ConfigError, load_scenario

# The levers the issue asks for, by the schema path that carries each.
REQUIRED = {
    "core.confirm_willingness",
    "core.data_sharing",
    "core.supply_chain_bills",
    "core.whitelist",
    "bank.gov_data",
    "guarantor.per_firm_cap",
    "guarantor.fee_rate",
    "guarantor.capital",
    "guarantor.leverage_max",
    "guarantor.payout_tolerance",
    "guarantor.reimbursement_share",
    "factoring.bank_line_multiple",
    "payment.late_share",
}


def _lower(spec):
    return spec.ge if spec.ge is not None else spec.gt


def _upper(spec):
    return spec.le if spec.le is not None else spec.lt


def test_every_lever_is_a_schema_parameter_and_the_required_ones_are_there():
    paths = [lv.path for lv in LEVERS]
    assert len(paths) == len(set(paths))
    assert set(paths) <= set(PARAMETERS)
    assert set(paths) >= REQUIRED


@pytest.mark.parametrize(
    "lever", [lv for lv in LEVERS if lv.kind in ("int", "float")], ids=lambda lv: lv.path
)
def test_slider_spans_lie_inside_the_schema_range(lever):
    spec = PARAMETERS[lever.path]
    lo, hi = lever.bounds
    assert lo < hi and lever.slider_step > 0
    assert _lower(spec) is None or lo >= _lower(spec)
    assert _upper(spec) is None or hi <= _upper(spec)
    assert lo <= spec.default <= hi, "the schema default must be reachable on the slider"
    for ref in lever.refs:
        assert lo <= ref <= hi, f"study value {ref} must be on the slider"


def test_run_controls_come_from_the_schema():
    for path, (lo, hi), step in RUN_CONTROLS.values():
        spec = PARAMETERS[path]
        assert spec.kind == "int" and step > 0
        assert spec.ge <= lo < hi <= spec.le
        assert lo <= spec.default <= hi


def test_initial_levers_equal_the_schema_defaults():
    values = lever_values(ScenarioConfig())
    for lever in LEVERS:
        if lever.kind == "waiver":
            assert values[lever.path] is False
        else:
            assert values[lever.path] == PARAMETERS[lever.path].default


def test_unchanged_levers_make_no_overrides_and_policy_equals_baseline():
    s = Settings()
    s.levers = lever_values(baseline_config(s))
    assert lever_overrides(baseline_config(s), s.levers) == {}
    base, pol = baseline_config(s), policy_config(s)
    assert base.model_dump(exclude={"description"}) == pol.model_dump(exclude={"description"})


def test_float_noise_from_a_slider_is_not_a_change():
    s = Settings()
    s.levers = lever_values(baseline_config(s))
    s.levers["core.confirm_willingness"] += 1e-15
    assert lever_overrides(baseline_config(s), s.levers) == {}


def test_levers_apply_on_top_of_the_baseline_with_run_settings():
    s = Settings(n_smes=300, months=12, seed=7)
    s.levers = lever_values(baseline_config(s))
    s.levers["core.confirm_willingness"] = 0.9
    s.levers["guarantor.per_firm_cap"] = 1000.0
    s.levers["bank.gov_data"] = True
    s.levers["guarantor.fee_waiver_sectors"] = True
    cfg = policy_config(s)
    assert cfg.core.confirm_willingness == 0.9
    assert cfg.guarantor.per_firm_cap == 1000.0
    assert cfg.bank.gov_data is True
    assert set(WAIVER_SECTORS) <= set(cfg.guarantor.fee_waiver_sectors)
    assert cfg.population.n_smes == 300 and cfg.months == 12
    assert baseline_config(s).core.confirm_willingness == pytest.approx(0.3)


def test_export_is_a_scenario_that_loads_back(tmp_path):
    s = Settings(n_smes=500, months=24, seed=3)
    s.levers = lever_values(baseline_config(s))
    s.levers["core.data_sharing"] = 0.8
    s.levers["guarantor.fee_rate"] = 0.009
    path = tmp_path / "policy.yaml"
    path.write_text(export_yaml(s), encoding="utf-8")
    cfg = load_scenario(path)
    assert cfg.core.data_sharing == 0.8 and cfg.guarantor.fee_rate == 0.009
    assert cfg.population.n_smes == 500 and cfg.months == 24
    assert cfg.model_dump(exclude={"description"}) == policy_config(s).model_dump(
        exclude={"description"}
    )


def test_every_baseline_option_loads():
    keys = baseline_options()
    assert keys[:4] == ["chain:core_led", "chain:order_led", "chain:dispersed", "chain:platform"]
    assert not any(k.startswith("lib:experiments/") for k in keys), "experiments are not scenarios"
    for key in keys:
        assert isinstance(load_baseline(key), ScenarioConfig)


def test_unknown_baseline_is_a_config_error():
    with pytest.raises(ConfigError):
        load_baseline("nonsense")
