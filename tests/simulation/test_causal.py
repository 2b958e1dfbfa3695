"""The study's causal claims as paired tests over seeds (common random numbers)."""

import numpy as np
import pytest

from simulation import run_one
from simulation.config import ScenarioConfig
from simulation.scenario import load_scenario, with_overrides

SEEDS = range(6)
BASE = with_overrides(ScenarioConfig(), {"population.n_smes": 600})


def paired(overrides, metric, months=12, base=BASE):
    pol = with_overrides(base, overrides)
    return np.array(
        [
            metric(run_one(pol, s, months).summary) - metric(run_one(base, s, months).summary)
            for s in SEEDS
        ]
    )


def tier1(key):
    return lambda s: s["by_group"]["tier1"][key]


def test_confirmation_willingness_raises_tier1_access_and_lowers_its_cost():
    ov = {"core.confirm_willingness": 0.9}
    access = paired(ov, tier1("credit_access_rate"))
    cost = paired(ov, tier1("avg_cost_of_funds"))
    assert (access > 0).all(), access
    assert (cost < 0).all(), cost


def test_data_sharing_raises_access():
    d = paired({"core.data_sharing": 0.8}, lambda s: s["credit_access_rate"])
    assert (d > 0).all(), d


def test_higher_guarantee_cap_raises_guaranteed_lending_on_a_pilot_chain():
    """Cap 500 -> 1000 on the IC pilot chain: its tier-1 suppliers are large enough to reach
    the old cap, so more is guaranteed in all and per guaranteed firm."""
    base = with_overrides(load_scenario("pilots/ic_order_financing"), {"population.n_smes": 600})
    cap = {"guarantor.per_firm_cap": 1000.0}
    vol = paired(cap, lambda s: s["volume_by_instrument"]["guaranteed_loan"], 24, base)
    per_firm = paired(cap, lambda s: s["guarantee_per_firm"], 24, base)
    assert (vol > 0).all(), vol
    assert per_firm.mean() > 0, per_firm


def test_fee_cut_brings_more_guaranteed_lending():
    guaranteed = lambda s: s["volume_by_instrument"]["guaranteed_loan"]  # noqa: E731
    d = paired({"guarantor.fee_rate": 0.009}, guaranteed)
    assert (d > 0).all(), d


def test_mandate_raises_guarantor_leverage_to_the_floor_or_names_what_binds():
    mandate = {
        "guarantor.leverage_floor": 5.0,
        "guarantor.leverage_max": 10.0,
        "guarantor.payout_tolerance": 0.05,
    }
    lev = paired(mandate, lambda s: s["guarantor_leverage"], 24)
    assert (lev > 0).all(), lev
    pol = with_overrides(BASE, mandate)
    for seed in SEEDS:
        s = run_one(pol, seed, 24).summary
        if s["guarantor_leverage"] >= 5.0:
            assert s["guarantor_binding"] == "none"
        else:
            assert s["guarantor_binding"] in (
                "tolerance",
                "ceiling",
                "bank_appetite",
                "demand",
                "expanding",
            ), s["guarantor_binding"]
    no_floor = run_one(BASE, 0, 12).summary
    assert no_floor["guarantor_binding"] == "no_floor" and no_floor["guarantor_outreach"] == 0


def test_longer_payment_terms_raise_tier1_financing_and_its_cost():
    """The longer a supplier waits to be paid, the more working capital it carries on loans
    and the more it pays for finance per unit of sales (van der Vliet et al. 2015)."""
    short = with_overrides(BASE, {"payment.term_months": 1})
    longer = {"payment.term_months": 6}
    carried = paired(longer, tier1("loan_balance"), 12, short)
    cost = paired(longer, tier1("finance_cost_share"), 12, short)
    assert (carried > 0).all(), carried
    assert (cost > 0).all(), cost


def test_late_payment_makes_more_smes_default():
    d = paired({"payment.late_share": 0.6}, lambda s: s["sme_defaults"])
    lost = paired({"payment.late_share": 0.6}, lambda s: s["lost_output"])
    assert (d > 0).all(), d
    assert lost.mean() > 0, lost


def test_package_brings_more_credit_and_more_borrowers_at_a_lower_rate():
    """On the calibrated Shanghai baseline a few large borrowers carry the loan total (sizes:
    log-sd 1.7, 7% of SMEs borrow): at 600 SMEs over 12 months the package's change in loans
    was negative on 2 seeds of 6 (30 Nov 2026), so the claim is tested at 2,000 SMEs over 24
    months, where it holds on every seed."""
    pre = with_overrides(load_scenario("packages/pre_policy"), {"population.n_smes": 2000})
    package = load_scenario("packages/policy_package").model_dump(
        include={"guarantor", "bank", "payment"}
    )
    overrides = {f"{sec}.{k}": v for sec, d in package.items() for k, v in d.items()}
    for metric, sign in (("loan_balance", 1), ("borrowers", 1), ("avg_loan_rate", -1)):
        d = paired(overrides, lambda s, m=metric: _get(s, m), 24, pre) * sign
        assert (d > 0).all(), (metric, d * sign)
    guaranteed = paired(overrides, lambda s: s["volume_by_instrument"]["guaranteed_loan"], 24, pre)
    assert guaranteed.mean() > 0, guaranteed


def test_an_empty_group_reports_no_value():
    s = run_one(
        with_overrides(load_scenario("baselines/platform"), {"population.n_smes": 300}), 1, 6
    ).summary
    dist = s["by_group"]["distributor"]
    assert dist["credit_access_rate"] is None and dist["funded_share"] is None
    assert s["credit_access_rate"] is not None


def _get(summary, path):
    for part in path.split("."):
        summary = summary[part]
    return summary


def test_effects_are_read_by_size_class_and_risk_band():
    """Each breakdown partitions the SMEs (its groups add up to all), and government data
    raises access in the smallest and the largest size class alike, on every seed."""
    s = run_one(BASE, 1, 12).summary
    by = s["by_group"]
    for groups in (
        ("tier1", "tier2", "distributor"),
        ("size_micro", "size_small", "size_medium"),
        ("risk_low", "risk_medium", "risk_high"),
    ):
        for metric in ("sme_defaults", "need", "loan_balance", "borrowers"):
            assert sum(by[g][metric] for g in groups) == pytest.approx(s[metric]), (groups, metric)
    for group in ("size_micro", "size_medium"):
        d = paired(
            {"bank.gov_data": True}, lambda s, g=group: s["by_group"][g]["credit_access_rate"]
        )
        assert (d > 0).all(), (group, d)


def test_repayment_deferral_keeps_short_firms_producing():
    """Under stress (most core payments late, cautious banks), banks that roll over the
    principal SMEs cannot repay (macro.deferral) leave them cash to produce: less output is
    lost on every seed. (Defaults are not claimed: the model moves them either way, since a
    deferred loan still falls due.)"""
    stress = with_overrides(BASE, {"payment.late_share": 0.6, "bank.max_pd": 0.02})
    d = paired({"macro.deferral": True}, lambda s: s["lost_output"], 12, stress)
    assert (d < 0).all(), d
