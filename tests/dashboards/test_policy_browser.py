"""The dashboard loads a Pareto point from `scf optimize` as the policy, shows what each lever
costs, and renders Chinese with the bundled font (no CJK system font needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from analysis.evaluate import Evaluator
from analysis.optimize import RUNS_DIR, load_problem, open_study, prepare, search
from analysis.pareto import export_points, pareto_front, trials_frame
from dashboards.i18n import t
from simulation.scenario import load_scenario
from tests.dashboards.browser import open_dashboard

pytestmark = pytest.mark.slow

SPEC = """description: one trial, to have a real Pareto point file
scenario: baselines/core_led
set:
  population.n_smes: 200
  bank.gov_data: true
months: 6
seeds: [1]
levers:
  core.confirm_willingness: {low: 0.85, high: 0.95, step: 0.05}
objectives:
  - maximize: credit_access_rate
trials: 1
recheck:
  seeds: [2]
"""


def pareto_point(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    problem = load_problem(spec)
    out = tmp_path / "study"
    prepare(problem, out)
    with Evaluator(out / RUNS_DIR, workers=0) as ev:
        search(problem, out, ev)
    front = pareto_front(trials_frame(open_study(problem, out, create=False), problem), problem)
    (path,) = export_points(front, problem, out)
    return path


def test_a_pareto_point_loads_as_the_policy_with_its_costs(chromium, dashboard_url, tmp_path):
    point = pareto_point(tmp_path)
    wanted = load_scenario(point)
    dash = open_dashboard(chromium, dashboard_url)
    try:
        button = dash.locator(".scf-load-policy-button")
        expect(button).to_be_disabled()  # nothing to load yet
        dash.locator(".scf-load-policy input").fill(str(point))
        expect(button).to_be_enabled()  # the server has the path
        button.click()
        expect(dash.locator(".scf-load-policy-message")).to_contain_text(point.name)
        thumb = dash.locator(".scf-lever-core-confirm_willingness [role=slider]")
        expect(thumb).to_have_attribute("aria-valuenow", f"{wanted.core.confirm_willingness:g}")
        dash.get_by_role("button", name="Run", exact=True).click()
        expect(dash.locator(".scf-stale")).to_have_count(0)
        # government data is on in the point: its running cost shows for the policy only
        expect(dash.locator(".scf-cost-label-gov_data")).to_have_text(t("cost_gov_data", "en"))
        expect(dash.locator(".scf-cost-policy-total")).to_be_visible()
        assert dash.locator(".scf-cost-policy-gov_data").inner_text() not in ("", "0")
    finally:
        dash.context.close()


def test_chinese_labels_render_with_the_bundled_font(chromium, dashboard_url):
    dash = open_dashboard(chromium, dashboard_url)
    try:
        dash.locator(".scf-lang-zh").click()
        expect(dash.locator(".scf-cost-label-total")).to_have_text(t("cost_total", "zh"))
        faces = dash.evaluate(
            "async () => (await document.fonts.load('16px \"Noto Sans SC\"', '中文')).length"
        )
        assert faces >= 1  # the CJK subset was fetched from the offline cache
        # (other subsets of the face may still be loading: check() is true once none is)
        dash.wait_for_function("() => document.fonts.check('16px \"Noto Sans SC\"', '中文')",
                               timeout=10_000)
        family = dash.locator(".scf-lang-zh").evaluate("e => getComputedStyle(e).fontFamily")
        assert "Noto Sans SC" in family
        # glyphs, not empty boxes: 中文 drawn in the page is as wide as in the loaded font
        widths = dash.evaluate(
            """() => { const c = document.createElement('canvas').getContext('2d');
                 c.font = '32px "Noto Sans SC"'; const a = c.measureText('中文').width;
                 c.font = '32px monospace'; const b = c.measureText('中文').width;
                 return [a, b]; }"""
        )
        assert widths[0] > 0
    finally:
        dash.context.close()
