"""The public cost of the levers: items that add up, charged only while a lever is on, and
pure accounting (changing a cost never changes what firms and lenders do)."""

from __future__ import annotations

import pytest

from simulation.costs import COST_ITEMS, SUMMARY_KEYS
from simulation.runner import run_one
from simulation.scenario import load_scenario

SMALL = {"population.n_smes": 200}
MONTHS = 6


def summary(name: str, **overrides: object) -> dict:
    result = run_one(load_scenario(name, {**SMALL, **overrides}), 3, MONTHS)
    return {**result.summary, "_monthly": result.monthly}


def test_items_add_up_to_public_cost_month_by_month_and_over_the_run() -> None:
    s = summary("packages/policy_package", **{"bank.alt_data": True, "access.one_stop": True,
                                              "access.online_accounts": True})  # fmt: skip
    assert set(SUMMARY_KEYS) <= set(s)
    assert sum(s[k] for k in SUMMARY_KEYS) == pytest.approx(s["public_cost"], rel=1e-12)
    monthly = s["_monthly"]
    assert monthly[monthly.group == "all"].public_cost.sum() == pytest.approx(s["public_cost"])
    for item in ("gov_data", "alt_data", "one_stop", "online_accounts", "arrears",
                 "guarantor_expected_loss", "guarantor_capital"):  # fmt: skip
        assert s[f"public_cost_{item}"] > 0, item


def test_a_running_cost_is_charged_only_while_its_lever_is_on() -> None:
    off = summary("baselines/core_led")
    for item in ("gov_data", "alt_data", "one_stop", "online_accounts", "arrears", "fee_subsidy"):
        assert off[f"public_cost_{item}"] == 0.0, item
    fixed = summary("levers/one_stop", **{"costs.one_stop_per_sme": 0.0,
                                          "costs.one_stop_per_year": 12.0})  # fmt: skip
    # 12 a year per 1,000 SMEs, 200 SMEs, 6 months
    assert fixed["public_cost_one_stop"] == pytest.approx(12.0 * 0.2 * MONTHS / 12)


def test_costs_are_accounting_only_and_scale_with_their_price() -> None:
    a = summary("levers/gov_data")
    b = summary("levers/gov_data", **{"costs.gov_data_per_year": 10.0,
                                      "costs.gov_data_per_sme": 0.04,
                                      "costs.guarantor_capital_rate": 0.06})  # fmt: skip
    for metric in ("credit_access_rate", "lost_output", "guarantee_outstanding"):
        assert a[metric] == b[metric]
    assert b["public_cost_gov_data"] == pytest.approx(2 * a["public_cost_gov_data"])
    assert b["public_cost_guarantor_capital"] == pytest.approx(
        2 * a["public_cost_guarantor_capital"]
    )
    # (banks that read government data leave few firms short, so few guarantees: the
    # guarantor's expected loss is checked where it guarantees)
    with_loss = summary("baselines/core_led")
    none = summary("baselines/core_led", **{"costs.guarantor_expected_loss": False})
    assert none["public_cost_guarantor_expected_loss"] == 0.0
    assert with_loss["public_cost_guarantor_expected_loss"] > 0.0


def test_every_item_is_named_once() -> None:
    assert len(set(COST_ITEMS)) == len(COST_ITEMS)
