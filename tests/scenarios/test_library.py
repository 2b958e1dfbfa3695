"""Every file of the scenario library validates, composes as it says, and runs for 12 months."""

from __future__ import annotations

import math

import pytest
import yaml

from analysis import library
from simulation.config import ScenarioConfig
from simulation.scenario import SCENARIO_DIR, load_raw, load_scenario
from tests.scenarios.claims import CLAIMS, REFERENCE, SMALLER

FILES = library.library_files()
NAMES = [library.library_name(p) for p in FILES]

# The list: one file per lever, five pilots, the package and its starting point.
LEVERS = {
    "confirm_willingness",
    "data_sharing",
    "supply_chain_bills",
    "whitelist",
    "order_financing",
    "gov_data",
    "guarantee_cap",
    "guarantee_fee",
    "fee_waiver",
    "guarantor_mandate",
    "reimbursement",
    "factoring_line",
    "online_accounts",
    "one_stop",
    "late_payment_enforcement",
}
PILOTS = {
    "ic_order_financing",
    "biomedicine_whitelist",
    "cruise_ship_whitelist",
    "auto_logistics_factoring",
    "cloud_usage_data",
}


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_the_library_holds_every_lever_pilot_and_package():
    shelf = {
        s: {n.split("/", 1)[1] for n in NAMES if n.startswith(s + "/")} for s in library.SHELVES
    }
    assert shelf["levers"] == LEVERS
    assert shelf["pilots"] == PILOTS
    assert shelf["packages"] == {"pre_policy", "policy_package", "shanghai_2020"}
    assert {"core_led", "order_led", "dispersed", "platform", "shanghai"} <= shelf["baselines"]


@pytest.mark.parametrize("name", NAMES)
def test_file_validates_and_runs_12_months(name, runs):
    """Each file as written validates; it runs 12 months (with 600 SMEs, see claims.SMALLER)."""
    assert library.problems(name) == []
    cfg = load_scenario(name)
    assert cfg.description.strip(), f"{name}: needs a description"
    s = runs.summary(name, 1, 12, SMALLER)
    assert abs(s["ledger_residual"]) < 1e-6 * max(1.0, s["lost_output"])
    for key in ("credit_access_rate", "funded_share", "avg_cost_of_funds"):
        assert s[key] is not None and math.isfinite(s[key]), (name, key)


@pytest.mark.parametrize("name", [n for n in NAMES if n.split("/")[0] in ("levers", "pilots")])
def test_lever_is_a_base_plus_only_its_overrides(name):
    path = SCENARIO_DIR / f"{name}.yaml"
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = own.pop("base")
    own.pop("description")
    assert base.startswith("baselines/"), base
    assert own, f"{name} changes nothing"
    base_cfg = load_scenario(base, REFERENCE.get(name)).model_dump(mode="json")
    cfg = load_scenario(name).model_dump(mode="json")
    changed = {k for k, v in _leaves(cfg).items() if _leaves(base_cfg)[k] != v}
    assert changed - {"description"} == set(_leaves(own)), "overrides must all change the base"
    # (against the comparison the claims use: the base, or its stated reference)
    assert name in CLAIMS, f"{name}: say what it moves in tests/scenarios/claims.py"


def test_package_extends_the_pre_policy_state_on_shanghai():
    assert (
        library.declared_base(SCENARIO_DIR / "packages/policy_package.yaml")
        == "packages/pre_policy"
    )
    pre = load_scenario("packages/pre_policy")
    pkg = load_scenario("packages/policy_package")
    assert pre.chain.type == pkg.chain.type == "mixed"
    assert (pre.guarantor.fee_rate, pkg.guarantor.fee_rate) == (0.025, 0.009)
    assert (pre.guarantor.per_firm_cap, pkg.guarantor.per_firm_cap) == (500.0, 1000.0)
    # the package changes policy only: population and network are the same, so runs pair
    assert pre.population == pkg.population and pre.chain == pkg.chain


def test_shanghai_mixes_the_studys_sectors():
    cfg = load_scenario("baselines/shanghai")
    mix = cfg.chain.mix
    assert (mix.core_led, mix.order_led, mix.dispersed, mix.platform) == (8, 2, 3, 1)


def test_resolved_scenario_is_what_a_run_records():
    cfg = load_scenario("levers/fee_waiver")
    raw = load_raw(SCENARIO_DIR / "levers/fee_waiver.yaml")
    assert ScenarioConfig.model_validate(raw) == cfg
    assert "base" not in library.show("levers/fee_waiver")


def test_the_shanghai_baseline_holds_the_committed_posterior_medians():
    """packages/ build on baselines/shanghai: it must carry the calibration's medians, exactly
    as `scf calibrate` wrote them, and only the parameters the calibration fitted."""
    calibrated = yaml.safe_load(
        (SCENARIO_DIR / "calibration/shanghai_2020/calibrated.yaml").read_text("utf-8"))
    baseline = yaml.safe_load((SCENARIO_DIR / "baselines/shanghai.yaml").read_text("utf-8"))
    assert calibrated["base"] == "baselines/shanghai"
    fitted = {(s, k): v for s, sec in calibrated.items() if isinstance(sec, dict)
              for k, v in sec.items()}
    held = {(s, k): v for s, sec in baseline.items() if isinstance(sec, dict) and s != "chain"
            for k, v in sec.items()}
    assert fitted and held == fitted
