"""The dashboard in a real browser: load, controls, a lever run, language switch, export.

One session (page) walks through the officer's steps in order, as the tests below; loading the
page and computing the first pair dominates the time, so the steps share it. A second, fresh
session then checks that nothing leaked from the first.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboards.i18n import t
from dashboards.results import INDICATORS
from simulation.scenario import load_scenario
from tests.dashboards.browser import open_dashboard

pytestmark = pytest.mark.slow

LEVER = ".scf-lever-core-confirm_willingness"


def _cells(dash, side: str) -> dict[str, str]:
    return {k: dash.locator(f".scf-{side}-{k}").inner_text() for k, _ in INDICATORS}


@pytest.fixture(scope="module")
def dash(chromium, dashboard_url):
    dash = open_dashboard(chromium, dashboard_url)
    yield dash
    dash.context.close()


def test_page_loads_with_controls_and_results(dash):
    expect(dash.get_by_role("button", name="Run", exact=True)).to_be_visible()
    expect(dash.locator(".scf-baseline")).to_be_attached()
    for path in (
        "core-confirm_willingness",
        "core-data_sharing",
        "guarantor-per_firm_cap",
        "guarantor-fee_rate",
        "bank-gov_data",
        "payment-late_share",
    ):
        expect(dash.locator(f".scf-lever-{path}")).to_be_attached()
    expect(dash.locator(f"{LEVER} [role=slider]")).to_be_attached()
    # policy = baseline until a lever moves
    assert _cells(dash, "base") == _cells(dash, "policy")
    expect(dash.locator(".scf-network .js-plotly-plot").first).to_be_attached()


def test_moving_a_lever_changes_policy_not_baseline(dash):
    base_before = _cells(dash, "base")
    policy_before = _cells(dash, "policy")
    thumb = dash.locator(f"{LEVER} [role=slider]")
    thumb.wait_for(state="attached")
    thumb.focus()
    dash.keyboard.press("End")
    expect(thumb).to_have_attribute("aria-valuenow", "1")
    expect(dash.locator(".scf-stale")).to_be_attached()
    dash.get_by_role("button", name="Run", exact=True).click()
    expect(dash.locator(".scf-policy-credit_access_rate")).not_to_have_text(
        policy_before["credit_access_rate"]
    )
    expect(dash.locator(".scf-stale")).to_have_count(0)
    assert _cells(dash, "base") == base_before
    assert _cells(dash, "policy") != policy_before


def test_network_replays_month_by_month(dash):
    legend = dash.locator(".scf-network .legendtext")
    expect(legend.first).to_be_attached()
    last = legend.all_text_contents()
    month = dash.locator(".scf-month [role=slider]")
    month.focus()
    dash.keyboard.press("Home")
    expect(month).to_have_attribute("aria-valuenow", "1")
    expect(dash.locator(".scf-month")).to_contain_text(": 1")
    expect(legend.nth(2)).not_to_have_text(last[2])  # fewer firms have defaulted in month 1


def test_language_switch_changes_labels(dash):
    label = dash.locator(".scf-label-credit_access_rate")
    expect(label).to_have_text(t("credit_access_rate", "en"))
    dash.locator(".scf-lang-zh").click()
    expect(label).to_have_text(t("credit_access_rate", "zh"))
    expect(dash.locator(LEVER)).to_contain_text("确权")
    expect(dash.get_by_role("button", name=t("run", "zh"), exact=True)).to_be_visible()
    dash.locator(".scf-lang-en").click()
    expect(label).to_have_text(t("credit_access_rate", "en"))


def test_export_produces_a_scenario_that_validates(dash, tmp_path):
    with dash.expect_download() as info:
        dash.locator(".scf-export button").first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".yaml"
    cfg = load_scenario(path)
    assert cfg.core.confirm_willingness == 1.0  # the lever moved above
    assert cfg.population.n_smes == 1000


def test_a_new_session_has_its_own_state(chromium, dashboard_url, dash):
    other = open_dashboard(chromium, dashboard_url)
    try:
        thumb = other.locator(f"{LEVER} [role=slider]")
        thumb.wait_for(state="attached")
        assert thumb.get_attribute("aria-valuenow") == "0.3"
        assert _cells(other, "base") == _cells(other, "policy")
        assert dash.locator(f"{LEVER} [role=slider]").get_attribute("aria-valuenow") == "1"
    finally:
        other.context.close()
