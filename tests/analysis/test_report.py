"""The HTML report: one valid, self-contained file with the expected figures, opening offline."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis import figures, report
from analysis.cli import app
from analysis.compare import compare_store
from tests.analysis.test_compare import fake_store

VOID = {"meta", "link", "br", "hr", "img", "input", "source", "area", "base", "col", "wbr"}
BASE, LEVER = "baselines/core_led", "levers/guarantee_cap"
ROOT = Path(__file__).resolve().parents[2]


class Checker(HTMLParser):
    """Checks that tags nest and close, and collects external references and headings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.external: list[str] = []
        self.headings: list[str] = []
        self.scripts = 0
        self._in_heading = False

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and value.lstrip().startswith(("http", "//")):
                self.external.append(f"<{tag} {name}={value}>")
        self.scripts += tag == "script"
        self._in_heading = tag in ("h1", "h2")
        if self._in_heading:
            self.headings.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        self._in_heading = False if tag in ("h1", "h2") else self._in_heading

    def handle_data(self, data) -> None:
        if self._in_heading:
            self.headings[-1] += data


def check(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    return checker


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return fake_store(tmp_path / "res", tmp_path, f"{BASE}, {LEVER}")


def test_report_is_valid_self_contained_html_with_every_figure(store: Path) -> None:
    comparison = compare_store(store, BASE, [LEVER])
    text = report.build(comparison, report.monthly_of(comparison, store))
    assert text.startswith("<!DOCTYPE html>")
    page = check(text)
    assert page.errors == [] and page.stack == []
    assert page.external == []  # no script, style sheet or image fetched from the network
    assert "@import" not in text and 'src="http' not in text
    expected = [report.TITLES[k] for k in ("paths", "tiers", "mix", "guarantee", "vfm")]
    assert all(title in page.headings for title in expected), page.headings
    assert report.TITLES["sensitivity"] not in page.headings  # none stored
    assert text.count('class="plotly-graph-div"') == len(expected)
    assert "Plotly.newPlot" in text and len(text) > 3_000_000  # plotly.js is inline
    assert "How sure are we" in text and "narrower" in text
    assert LEVER in text and "10k CNY" in text


def test_many_policies_get_distinct_colours_and_the_report_still_builds(tmp_path: Path) -> None:
    levers = [
        "guarantee_cap", "guarantee_fee", "guarantor_mandate", "reimbursement", "gov_data",
        "late_payment_enforcement", "confirm_willingness", "data_sharing", "supply_chain_bills",
        "whitelist", "order_financing", "factoring_line", "online_accounts", "one_stop",
    ]  # fmt: skip
    names = ", ".join(f"levers/{x}" for x in levers)
    root = fake_store(tmp_path / "res", tmp_path, f"{BASE}, {names}", seeds=2)
    comparison = compare_store(root, BASE, ["levers/*"])
    assert len(comparison.policies) == len(levers)
    colours = figures._colors(comparison)
    assert len(set(colours.values())) == len(levers) + 1
    assert all(figures._rgba(c, 0.5).startswith("rgba(") for c in colours.values())
    page = check(report.build(comparison, report.monthly_of(comparison, root)))
    assert page.errors == [] and report.TITLES["paths"] in page.headings


def test_cli_writes_the_report_and_refuses_other_suffixes(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    args = ["compare", str(store), "-b", BASE, "-p", LEVER, "--report"]
    result = CliRunner().invoke(app, [*args, str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and check(out.read_text(encoding="utf-8")).errors == []
    assert "wrote" in result.stderr and result.stdout.startswith("{")
    bad = CliRunner().invoke(app, [*args, str(tmp_path / "r.pdf")])
    assert bad.exit_code == 2 and "must end in .html" in bad.stderr


@pytest.mark.slow
def test_report_opens_offline_in_a_browser_with_every_chart_drawn(
    store: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = Path(os.environ.get("SCF_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.fail(f"{chromium} missing: run .ci/setup (apt-get install -y chromium)")
    comparison = compare_store(store, BASE, [LEVER])
    text = report.build(comparison, report.monthly_of(comparison, store))
    path = report.write(tmp_path / "r.html", text)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5",
                timeout=120_000,
            )
            assert page.locator(".js-plotly-plot").count() == 5
            assert errors == []
            assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
        finally:
            browser.close()


@pytest.mark.slow
def test_batch_compare_report_end_to_end(tmp_path: Path) -> None:
    """The real chain as a user runs it: scf batch, then scf compare with a report."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"scenarios: [{BASE}, {LEVER}]\nseeds: 3\nmonths: 4\nset:\n  population.n_smes: 80\n",
        encoding="utf-8",
    )
    out, html = tmp_path / "res", tmp_path / "report.html"

    def scf(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "analysis", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)

    p = scf("batch", str(exp), "--out", str(out), "--workers", "0", "--no-progress")
    assert p.returncode == 0, p.stderr
    p = scf("compare", str(out), "-b", BASE, "-p", LEVER, "-p", BASE, "--report", str(html))
    assert p.returncode == 0, p.stderr
    assert f"{LEVER} minus {BASE}: 3 paired seeds, 4 months" in p.stdout
    assert f"{BASE} minus {BASE}" in p.stdout
    page = check(html.read_text(encoding="utf-8"))
    assert page.errors == [] and page.external == []
    assert report.TITLES["vfm"] in page.headings


def test_a_sensitivity_study_on_the_baseline_joins_the_compare_report(
    store: Path, tmp_path: Path
) -> None:
    from analysis.sensitivity import make_study, run_study

    small = {"population.n_smes": 40}
    study = make_study(BASE, "core.data_sharing", samples=2, seeds=1, months=2, overrides=small)
    run_study(study, store, workers=0, progress=False)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["compare", str(store), "-b", BASE, "-p", LEVER, "--report", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    page = check(out.read_text(encoding="utf-8"))
    assert report.TITLES["sensitivity"] in page.headings and page.errors == []
    other = CliRunner().invoke(
        app, ["compare", str(store), "-b", LEVER, "-p", BASE, "--report", str(out)]
    )
    assert other.exit_code == 0, other.stderr
    assert report.TITLES["sensitivity"] not in check(out.read_text(encoding="utf-8")).headings


def test_the_instrument_mix_hovers_with_each_instruments_rate(tmp_path: Path) -> None:
    root = fake_store(tmp_path / "res", tmp_path, f"{BASE}, levers/guarantee_cap", seeds=2)
    comparison = compare_store(root, BASE, ["levers/guarantee_cap"])
    bars = {bar.name: list(bar.customdata) for bar in figures.fig_mix(comparison).data}
    # the fake runs: credit loans at 9% a year, 8.5% under the lever; the guaranteed loan's
    # rate was not measured (None in the summaries)
    assert bars["credit loan"] == ["9.00%", "8.50%"]
    assert bars["guaranteed loan"] == ["n/a", "n/a"]
