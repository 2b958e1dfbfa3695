"""The schema and scenario loading: paths researchers use, composition, one-line errors."""

import pytest

from simulation.config import ScenarioConfig
from simulation.scenario import (
    PARAMETERS,
    ConfigError,
    load_scenario,
    parse_overrides,
    to_yaml,
    validate,
    with_overrides,
)

REQUIRED_PATHS = [
    "chain.type",
    "population.n_smes",
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
    "payment.term_months",
    "payment.late_share",
]


@pytest.mark.parametrize("path", REQUIRED_PATHS)
def test_required_paths_exist_with_description(path):
    spec = PARAMETERS[path]
    assert spec.description


def test_study_reference_defaults():
    cfg = ScenarioConfig()
    assert cfg.guarantor.per_firm_cap == 500
    assert cfg.guarantor.fee_rate == 0.025
    assert 0 <= cfg.core.confirm_willingness <= 1


def test_units_travel_with_money_fields():
    assert PARAMETERS["guarantor.per_firm_cap"].unit == "10k CNY"
    assert PARAMETERS["payment.term_months"].unit == "months"


def test_set_overrides_parse_by_yaml_rules():
    ov = parse_overrides(["core.data_sharing=0.8", "core.whitelist=true", "chain.type=dispersed"])
    assert ov == {"core.data_sharing": 0.8, "core.whitelist": True, "chain.type": "dispersed"}
    cfg = load_scenario("baselines/core_led", ov)
    assert cfg.core.data_sharing == 0.8 and cfg.chain.type == "dispersed"


@pytest.mark.parametrize(
    "pairs, fragment",
    [
        (
            ["core.confirm_willingness=1.5"],
            "core.confirm_willingness: must be >= 0 and <= 1 (got 1.5)",
        ),
        (["core.bogus=1"], "core.bogus: unknown parameter"),
        (["chain.type=star"], "must be one of core_led"),
        (["population.n_smes=abc"], "population.n_smes: must be >= 10"),
        (["core.whitelist"], "expected PATH=VALUE"),
    ],
)
def test_bad_overrides_are_one_line_errors(pairs, fragment):
    with pytest.raises(ConfigError) as exc:
        load_scenario("baselines/core_led", parse_overrides(pairs))
    msg = str(exc.value)
    assert fragment in msg and "\n" not in msg


def test_unknown_key_in_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("description: x\ncore:\n  confirm_wilingness: 0.5\n")
    with pytest.raises(ConfigError, match=r"core.confirm_wilingness: unknown field"):
        load_scenario(f)


def test_malformed_yaml(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("core: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_scenario(f)


def test_base_composition_and_cycles(tmp_path):
    (tmp_path / "a.yaml").write_text("description: a\nbase: b\ncore:\n  whitelist: true\n")
    (tmp_path / "b.yaml").write_text("description: b\nbase: baselines/dispersed\n")
    cfg = load_scenario(tmp_path / "a.yaml")
    assert cfg.chain.type == "dispersed" and cfg.core.whitelist and cfg.description == "a"
    (tmp_path / "c.yaml").write_text("description: c\nbase: d\n")
    (tmp_path / "d.yaml").write_text("description: d\nbase: c\n")
    with pytest.raises(ConfigError, match="cyclic"):
        load_scenario(tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("description: e\nbase: nowhere/missing\n")
    with pytest.raises(ConfigError, match="base: .*not found"):
        load_scenario(tmp_path / "e.yaml")


def test_resolved_yaml_round_trips(tmp_path):
    cfg = with_overrides(ScenarioConfig(), {"guarantor.fee_waiver_sectors": ["ai"]})
    f = tmp_path / "r.yaml"
    f.write_text(to_yaml(cfg))
    assert load_scenario(f) == cfg
    assert validate(cfg.model_dump(mode="json")) == cfg


def test_a_schedule_is_validated_like_a_scenario():
    from simulation.scenario import ConfigError, validate

    ok = validate(
        {
            "months": 12,
            "schedule": [{"month": 7, "group": "package", "set": {"bank.gov_data": True}}],
        }
    )
    assert ok.at_month(6).bank.gov_data is False and ok.at_month(7).bank.gov_data is True
    for bad, words in (
        ([{"month": 3, "set": {"guarantor.fee_rate": 0.5}}], "fee_rate"),
        ([{"month": 3, "set": {"population.n_smes": 10}}], "cannot change during a run"),
        ([{"month": 3, "set": {"bank.nonsense": 1}}], "unknown parameter"),
        ([{"month": 5, "set": {}}, {"month": 3, "set": {}}], "month order"),
    ):
        with pytest.raises(ConfigError, match=words) as err:
            validate({"schedule": bad})
        assert "\n" not in str(err.value)


def test_a_scheduled_change_acts_from_its_month_on():
    from simulation import run_one
    from simulation.scenario import validate

    base = {"population": {"n_smes": 300}}
    sched = {
        **base,
        "schedule": [{"month": 7, "set": {"bank.gov_data": True, "guarantor.fee_rate": 0.009}}],
    }
    a = run_one(validate(base), 3, 12).monthly
    b = run_one(validate(sched), 3, 12).monthly
    early_a, early_b = a[a.month <= 6], b[b.month <= 6]
    assert early_a.reset_index(drop=True).equals(early_b.reset_index(drop=True))
    assert not a[a.month > 6].reset_index(drop=True).equals(b[b.month > 6].reset_index(drop=True))
