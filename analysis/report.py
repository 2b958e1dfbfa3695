"""One self-contained HTML report of a paired comparison and, when run, a sensitivity study.

plotly.js is embedded once in the page's head, so the file opens offline in any browser and can
be mailed as it is. Sections: headline cards; how much the pairing narrows the intervals; monthly
paths of baseline and policies with bands over seeds; credit access and cost by tier; instrument
mix; guarantee system health; value for money (ranked); sensitivity; the full table.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from analysis.compare import MONEY_UNIT, TOTAL_CREDIT, Comparison
from analysis.figures import (
    VFM_GAINS,
    fig_guarantee,
    fig_mix,
    fig_paths,
    fig_sensitivity,
    fig_tiers,
    fig_vfm,
)
from analysis.labels import GROUP_LABELS, LABEL, fmt_ci, fmt_value, fmt_width
from analysis.sensitivity import SensitivityResult
from analysis.store import load_monthly
from simulation.scenario import ConfigError

TITLES = {
    "paths": "Monthly paths: baseline and policies (mean, band over seeds)",
    "tiers": "Credit access and cost by tier (policy minus baseline, 95% CI)",
    "mix": "Instrument mix (credit volume by instrument, mean over seeds)",
    "guarantee": "Guarantee system health: leverage used and payout rate against tolerance",
    "vfm": "Value for money: extra SME credit and lost output avoided per unit of public cost",
    "sensitivity": "Sensitivity: which parameters move credit access most",
}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _figure_html(fig: go.Figure, key: str) -> str:
    fig.update_layout(template="plotly_white", margin={"t": 60, "b": 40, "l": 60, "r": 20})
    fig.update_yaxes(automargin=True)
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOT_CONFIG)
    return f'<section class="figure" id="{key}"><h2>{_esc(TITLES[key])}</h2>{div}</section>'


def monthly_of(comparison: Comparison, path: str | Path) -> pd.DataFrame:
    """The monthly rows of the compared runs, labelled with `label` (baseline or policy)."""
    frames = [load_monthly(path, e) for e in comparison.runs.experiment.unique()]
    monthly = pd.concat(frames, ignore_index=True).drop_duplicates(["run_id", "month", "group"])
    runs = comparison.runs[["run_id", "side", "policy"]].copy()
    runs["label"] = [
        f"baseline: {p}" if s == "baseline" else p
        for s, p in zip(runs.side, runs.policy, strict=True)
    ]
    keep = monthly.drop(columns=["experiment", "scenario", "variant", "point"], errors="ignore")
    return keep.merge(runs[["run_id", "label"]], on="run_id")


def _vfm_text(comparison: Comparison) -> str:
    from simulation.costs import SUMMARY_KEYS

    gain = dict((k, label) for k, _, label, _ in VFM_GAINS)[comparison.rank_by]
    vfm = comparison.value_for_money()
    rows = "".join(
        f"<tr><td>{_esc(r['policy'])}</td><td>{r['public_cost']:+,.0f}</td>"
        + "".join(f"<td>{fmt_value(k, r[k], True)}</td>" for k in SUMMARY_KEYS)
        + "</tr>"
        for r in vfm.to_dict(orient="records")
    )
    head = "".join(f"<th>{_esc(k.removeprefix('public_cost_'))}</th>" for k in SUMMARY_KEYS)
    return (
        f"<p>Ranked by {_esc(gain)} per unit of extra public cost. Public cost counts every "
        f"lever's cost to the public purse: guarantee-fee subsidies and payout reimbursements, "
        f"the expected losses of the government guarantor and the cost of its capital, and the "
        f"running costs of government and platform data, the one-stop entry, online accounts "
        f"and the arrears campaign (the figures are assumptions in the schema's `costs` "
        f"section; docs/POLICY_DESIGN.md). Costs borne by core firms and banks are not public "
        f"money and are not counted. Credit volume can fall while SMEs fare better, when a "
        f"lever removes the need to borrow (late-payment enforcement pays them on time).</p>"
        f"<details><summary>Extra public cost by item ({MONEY_UNIT}, mean over paired "
        f"seeds)</summary><table><thead><tr><th>policy</th><th>total</th>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


# ----------------------------------------------------------------------------- page


def _cards(comparison: Comparison) -> str:
    specs = (
        ("credit_access_rate", "credit access", 1),
        (TOTAL_CREDIT, f"extra SME credit ({MONEY_UNIT})", 1),
        ("lost_output", f"lost output avoided ({MONEY_UNIT})", -1),
        ("public_cost", f"extra public cost ({MONEY_UNIT})", 1),
        ("sme_defaults", "SME defaults", 1),
    )
    out = []
    for policy in comparison.policies:
        cards = []
        for metric, label, sign in specs:
            try:
                row = comparison.get(policy, metric)
            except KeyError:
                continue
            mean, low, high = (sign * row[k] + 0.0 for k in ("diff_mean", "ci_low", "ci_high"))
            low, high = min(low, high), max(low, high)
            sure = "sure" if math.isfinite(low) and (low > 0 or high < 0) else ""
            cards.append(
                f'<div class="card {sure}"><div class="label">{_esc(label)}</div>'
                f'<div class="value">{_esc(fmt_value(metric, mean, True))}</div>'
                f'<div class="ci">95% CI {_esc(fmt_ci(metric, {"ci_low": low, "ci_high": high}))}'
                f"</div></div>"
            )
        p = comparison.pairings[policy]
        note = (
            f'<p class="warn">Not the same firms: {_esc(", ".join(p.population_differs))} '
            f"differ from the baseline, so the differences mix the policy with the population."
            f"</p>"
            if p.population_differs
            else ""
        )
        out.append(
            f'<div class="policy"><h3>{_esc(policy)} <small>vs {_esc(comparison.baseline)}, '
            f"{len(p.seeds)} paired seeds, {p.months} months</small></h3>"
            f'<div class="cards">{"".join(cards)}</div>{note}</div>'
        )
    return "".join(out)


def _pairing_text(comparison: Comparison) -> str:
    parts = []
    for policy in comparison.policies:
        try:
            row = comparison.get(policy, "credit_access_rate")
        except KeyError:
            continue
        paired, unpaired = row["paired_halfwidth"], row["unpaired_halfwidth"]
        gain = f"{1 - paired / unpaired:.0%} narrower" if unpaired and unpaired > 0 else "n/a"
        parts.append(
            f"<li>{_esc(policy)}: credit access difference +/-{paired * 100:.2f} pp paired, "
            f"+/-{unpaired * 100:.2f} pp unpaired ({gain})</li>"
        )
    median = comparison.narrowing()
    overall = f"{median:.0%}" if math.isfinite(median) else "n/a"
    return (
        "<p>Every policy run is paired with the baseline run of the same seed: the same firms "
        "and the same shocks (common random numbers), so the difference isolates the policy. "
        f"Compared with treating the runs as two unpaired samples (Welch), the pairing narrows "
        f"the {comparison.confidence:.0%} intervals by a median of <b>{overall}</b> over all "
        f"metrics and groups.</p><ul>{''.join(parts)}</ul>"
    )


def _table(comparison: Comparison, full: bool) -> str:
    t = comparison.table
    if not full:
        t = t[(t.group == "all") & t.metric.isin(LABEL)]
    head = (
        "<tr><th>policy</th><th>metric</th><th>group</th><th>n</th><th>baseline</th>"
        "<th>policy</th><th>difference</th><th>95% CI</th><th>relative</th>"
        "<th>CI +/- paired</th><th>CI +/- unpaired</th></tr>"
    )
    rows = []
    for r in t.to_dict(orient="records"):
        m = r["metric"]
        rel = f"{r['rel_change']:+.1%}" if math.isfinite(r["rel_change"]) else "n/a"
        cells = (
            r["policy"], LABEL.get(m, m) if not full else m, GROUP_LABELS[r["group"]], r["n"],
            fmt_value(m, r["baseline_mean"]), fmt_value(m, r["policy_mean"]),
            fmt_value(m, r["diff_mean"], True), fmt_ci(m, r), rel,
            fmt_width(m, r["paired_halfwidth"]), fmt_width(m, r["unpaired_halfwidth"]),
        )  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _sensitivity_text(result: SensitivityResult) -> str:
    study = result.study
    top = result.ranking("all").head(3)
    ranked = ", ".join(
        f"{p} [{lo:g}, {hi:g}]" for p, lo, hi in zip(top.parameter, top.low, top.high, strict=True)
    )
    return (
        f"<p>{_esc(study.method.capitalize())} design on {_esc(study.scenario)}: "
        f"{len(study.ranges)} parameters over their ranges, {result.runs} runs "
        f"({len(study.seeds)} seeds per point, seed means analysed). Most influential on "
        f"{_esc(result.metric)} (all SMEs): {_esc(ranked)}. Other groups are one legend click "
        f"away.</p>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 2rem;color:#222}h1{margin-bottom:.2rem}.meta{color:#666}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{border:1px solid #ddd;border-radius:6px;
padding:.5rem .8rem;min-width:11rem}.card.sure{border-color:#2c7fb8;background:#f1f7fb}
.card .label{font-size:.8rem;color:#555}.card .value{font-size:1.4rem;font-weight:600}
.card .ci{font-size:.75rem;color:#666}.warn{color:#a33}small{color:#666;font-weight:400}
table{border-collapse:collapse;font-size:.8rem}td,th{border-bottom:1px solid #eee;
padding:.2rem .5rem;text-align:right}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}
"""


def build(
    comparison: Comparison | None,
    monthly: pd.DataFrame | None = None,
    sensitivity: SensitivityResult | None = None,
    title: str | None = None,
    decomposition: dict[str, Any] | None = None,
) -> str:
    """The report as one HTML string (plotly.js inline; no network needed to open it).

    `decomposition`: policy -> (levers, ShapleyResult) from `scf compare --decompose`."""
    if comparison is None and sensitivity is None:
        raise ConfigError("a report needs a comparison or a sensitivity study")
    body, sections = [], []
    if comparison is not None:
        title = title or f"{', '.join(comparison.policies)} vs {comparison.baseline}"
        seeds = len(next(iter(comparison.pairings.values())).seeds)
        body.append(
            f'<p class="meta">Store {_esc(comparison.store)}; baseline '
            f"<b>{_esc(comparison.baseline)}</b>; {len(comparison.policies)} policies; "
            f"{seeds} paired seeds. Money in {MONEY_UNIT} (万元), totals over the run; rates "
            f"annual; pp: percentage points. Cards outlined in blue: the 95% interval excludes "
            f"zero.</p>"
        )
        body.append(f"<h2>Headlines</h2>{_cards(comparison)}")
        body.append(f"<h2>How sure are we: pairing by seed</h2>{_pairing_text(comparison)}")
        if monthly is not None and not monthly.empty:
            sections.append(_figure_html(fig_paths(comparison, monthly), "paths"))
        sections.append(_figure_html(fig_tiers(comparison), "tiers"))
        sections.append(_figure_html(fig_mix(comparison), "mix"))
        if monthly is not None and not monthly.empty:
            sections.append(_figure_html(fig_guarantee(comparison, monthly), "guarantee"))
        sections.append(_figure_html(fig_vfm(comparison), "vfm") + _vfm_text(comparison))
    if sensitivity is not None:
        title = title or f"Sensitivity of {sensitivity.study.scenario}"
        sections.append(
            _figure_html(fig_sensitivity(sensitivity), "sensitivity")
            + _sensitivity_text(sensitivity)
        )
    for policy, (_, result) in (decomposition or {}).items():
        sections.append(_decomposition_html(policy, result))
    if comparison is not None:
        sections.append(f"<h2>Key differences, all SMEs</h2>{_table(comparison, False)}")
        sections.append(
            f"<details><summary>Every metric and group</summary>{_table(comparison, True)}"
            f"</details>"
        )
    return offline_page(title, "SCF-Sim policy report", _esc(title), "".join(body + sections))


def _decomposition_html(policy: str, result: Any) -> str:
    """A package's split by lever: a chart of Shapley values with intervals per metric, and the
    totals with the interaction share."""
    from plotly.subplots import make_subplots

    metrics = result.metrics
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, shared_yaxes=True)
    table = result.table
    for k, metric in enumerate(metrics, start=1):
        rows = table[table.metric == metric]
        fig.add_trace(
            go.Bar(
                x=rows.value, y=rows.player, orientation="h", name=metric, showlegend=False,
                error_x={"type": "data", "symmetric": False, "array": rows.ci_high - rows.value,
                         "arrayminus": rows.value - rows.ci_low},
            ),
            row=1, col=k,
        )  # fmt: skip
    fig.update_layout(height=120 + 40 * len(result.players), template="plotly_white",
                      title=f"{policy}: Shapley values by lever (95% intervals over "
                      f"{len(result.seeds)} paired seeds)")  # fmt: skip
    totals = "".join(
        f"<tr><td>{_esc(t.metric)}</td><td>{t.total:,.4g}</td><td>[{t.ci_low:,.4g}, "
        f"{t.ci_high:,.4g}]</td><td>{t.interaction:,.4g}</td><td>"
        f"{'n/a' if not math.isfinite(t.interaction_share) else f'{t.interaction_share:.0%}'}"
        f"</td></tr>"
        for t in result.totals.itertuples()
    )
    how = "exact" if result.exact else f"sampled ({result.orders} join orders a seed)"
    return (
        f"<h2>{_esc(policy)} split by lever (Shapley, {how})</h2>"
        + pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOT_CONFIG)
        + "<p>Each lever's value is what it adds on average over the orders in which the levers "
        "could be added, seed by seed; the values sum to the package's effect. The interaction "
        "is the total effect less the sum of the levers' effects alone.</p><table><thead><tr>"
        "<th>metric</th><th>total effect</th><th>95% CI</th><th>interaction</th>"
        f"<th>interaction share</th></tr></thead><tbody>{totals}</tbody></table>"
    )


def offline_page(title: str, heading: str, meta_html: str, body_html: str) -> str:
    """A complete HTML page with plotly.js inline (opens offline); `meta_html` and `body_html`
    are HTML already escaped, `title` and `heading` plain text."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SCF-Sim: {_esc(title)}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        f'<h1>{_esc(heading)}</h1><p class="meta">{meta_html}. Generated {stamp} by '
        f"scf.</p>{body_html}</body></html>\n"
    )


def write(path: str | Path, text: str) -> Path:
    """Write the report atomically (a half-written report never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
