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
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.compare import MONEY_UNIT, TOTAL_CREDIT, Comparison
from analysis.sensitivity import SensitivityResult
from analysis.store import load_monthly
from simulation.metrics import GROUPS
from simulation.scenario import ConfigError

TITLES = {
    "paths": "Monthly paths: baseline and policies (mean, band over seeds)",
    "tiers": "Credit access and cost by tier (policy minus baseline, 95% CI)",
    "mix": "Instrument mix (credit volume by instrument, mean over seeds)",
    "guarantee": "Guarantee system health: leverage used and payout rate against tolerance",
    "vfm": "Value for money: extra SME credit and lost output avoided per unit of public cost",
    "sensitivity": "Sensitivity: which parameters move credit access most",
}
SHORT = {"all": "all SMEs", "tier1": "tier 1", "tier2": "tier 2", "distributor": "distrib."}
GROUP_LABELS = {g: SHORT.get(g, g) for g in GROUPS}  # the model's groups, in its order
RATES = {
    "credit_access_rate", "funded_share", "avg_cost_of_funds", "guarantee_payout_rate",
    "bank_npl_ratio", "arrears_repaid_share",
}  # fmt: skip
KEY_METRICS = (
    ("credit_access_rate", "credit access (share of SMEs in need fully funded)"),
    ("funded_share", "funded / needed volume"),
    (TOTAL_CREDIT, f"SME credit extended ({MONEY_UNIT})"),
    ("financing_gap", f"financing gap ({MONEY_UNIT})"),
    ("avg_cost_of_funds", "all-in cost of funds (annual)"),
    ("lost_output", f"lost output ({MONEY_UNIT})"),
    ("sme_defaults", "SME defaults"),
    ("public_cost", f"public cost ({MONEY_UNIT})"),
    ("guarantor_leverage", "guarantor leverage used (x capital)"),
    ("guarantee_payout_rate", "guarantee payout rate"),
    ("bank_npl_ratio", "bank non-performing ratio"),
)
LABEL = dict(KEY_METRICS)
BASE_COLOR = "#4d4d4d"
COLORS = [*qualitative.Plotly, *qualitative.Bold[:11]]  # no greys: grey is the baseline
SHOWN = 4  # policies drawn on the monthly charts at first; the rest one legend click away
BAND = (0.1, 0.9)
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


# ----------------------------------------------------------------------------- formatting


def fmt_value(metric: str, value: float, diff: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if diff and value > 0 else ""
    if metric in RATES:
        return f"{sign}{value * 100:.2f} pp" if diff else f"{value:.2%}"
    return f"{sign}{value:,.2f}" if abs(value) < 100 else f"{sign}{value:,.0f}"


def fmt_width(metric: str, value: float) -> str:
    """A half-width: rates in percentage points, other metrics in their unit."""
    return "+/-" + fmt_value(metric, value, True).lstrip("+")


def fmt_ci(metric: str, row: dict[str, Any]) -> str:
    return f"[{fmt_value(metric, row['ci_low'], True)}, {fmt_value(metric, row['ci_high'], True)}]"


def _rgba(color: str, alpha: float) -> str:
    """`#rrggbb` or `rgb(r, g, b)` (plotly's palettes use both) with an alpha."""
    if color.startswith("rgb"):
        r, g, b = (float(x) for x in color[color.index("(") + 1 : -1].split(",")[:3])
    else:
        r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r:g},{g:g},{b:g},{alpha})"


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _colors(comparison: Comparison) -> dict[str, str]:
    out = {f"baseline: {comparison.baseline}": BASE_COLOR}
    for i, policy in enumerate(comparison.policies):
        out[policy] = COLORS[i % len(COLORS)]
    return out


def _figure_html(fig: go.Figure, key: str) -> str:
    fig.update_layout(template="plotly_white", margin={"t": 60, "b": 40, "l": 60, "r": 20})
    fig.update_yaxes(automargin=True)
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOT_CONFIG)
    return f'<section class="figure" id="{key}"><h2>{_esc(TITLES[key])}</h2>{div}</section>'


# ----------------------------------------------------------------------------- data


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


def _bands(monthly: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = monthly[monthly.group == "all"].groupby(["label", "month"], sort=False)[metric]
    out = pd.DataFrame(
        {"mean": rows.mean(), "low": rows.quantile(BAND[0]), "high": rows.quantile(BAND[1])}
    )
    return out.reset_index()


def _shown(comparison: Comparison) -> set[str]:
    vfm = comparison.value_for_money()
    ranked = list(vfm.policy) if not vfm.empty else comparison.policies
    return {f"baseline: {comparison.baseline}", *ranked[:SHOWN]}


def _band_traces(
    fig: go.Figure, bands: pd.DataFrame, colors: dict[str, str], shown: set[str], pos: tuple
) -> None:
    first = pos == (1, 1)
    for label, color in colors.items():
        b = bands[bands.label == label]
        if b.empty:
            continue
        visible = True if label in shown else "legendonly"
        common = {"legendgroup": label, "visible": visible, "row": pos[0], "col": pos[1]}
        fig.add_scatter(
            x=list(b.month) + list(b.month[::-1]),
            y=list(b.high) + list(b.low[::-1]),
            fill="toself",
            fillcolor=_rgba(color, 0.15),
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            name=label,
            **common,
        )
        fig.add_scatter(
            x=b.month, y=b["mean"], mode="lines", line={"color": color}, name=label,
            showlegend=first, **common,
        )  # fmt: skip


# ----------------------------------------------------------------------------- figures


def fig_paths(comparison: Comparison, monthly: pd.DataFrame) -> go.Figure:
    """Credit access, financing gap, lost output and cost of funds by month, all SMEs."""
    metrics = ["credit_access_rate", "financing_gap", "lost_output", "avg_cost_of_funds"]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[LABEL[m] for m in metrics])
    colors, shown = _colors(comparison), _shown(comparison)
    for i, metric in enumerate(metrics):
        _band_traces(fig, _bands(monthly, metric), colors, shown, (i // 2 + 1, i % 2 + 1))
    fig.update_xaxes(title_text="month")
    fig.update_layout(height=640, legend={"orientation": "h", "y": -0.12})
    return fig


def _ci_bars(fig: go.Figure, comparison: Comparison, metric: str, col: int, scale: float) -> None:
    t = comparison.table
    for i, policy in enumerate(comparison.policies):
        rows = t[(t.policy == policy) & (t.metric == metric)].set_index("group")
        rows = rows.reindex([g for g in GROUPS if g in rows.index])
        fig.add_bar(
            x=[GROUP_LABELS[g] for g in rows.index],
            y=rows.diff_mean * scale,
            error_y={
                "type": "data",
                "array": (rows.ci_high - rows.diff_mean) * scale,
                "arrayminus": (rows.diff_mean - rows.ci_low) * scale,
            },
            name=policy,
            legendgroup=policy,
            showlegend=col == 1,
            marker_color=COLORS[i % len(COLORS)],
            row=1,
            col=col,
        )


def fig_tiers(comparison: Comparison) -> go.Figure:
    """Change in credit access and in cost of funds, by SME group, with 95% intervals."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["change in credit access (pp)", "change in all-in cost of funds (pp)"],
    )
    _ci_bars(fig, comparison, "credit_access_rate", 1, 100)
    _ci_bars(fig, comparison, "avg_cost_of_funds", 2, 100)
    fig.update_layout(barmode="group", height=460, legend={"orientation": "h", "y": -0.15})
    return fig


def fig_mix(comparison: Comparison) -> go.Figure:
    """Stacked credit volume by instrument for the baseline and each policy."""
    t = comparison.table
    t = t[(t.group == "all") & t.metric.str.startswith("volume_by_instrument.")]
    labels = [f"baseline: {comparison.baseline}", *comparison.policies]
    fig = go.Figure()
    for i, (metric, rows) in enumerate(t.groupby("metric", sort=False)):
        rows = rows.set_index("policy")
        values = [rows.baseline_mean.iloc[0], *(rows.policy_mean.get(p) for p in labels[1:])]
        fig.add_bar(
            y=labels,
            x=values,
            orientation="h",
            name=metric.removeprefix("volume_by_instrument.").replace("_", " "),
            marker_color=qualitative.Set2[i % len(qualitative.Set2)],
        )
    fig.update_layout(
        barmode="stack",
        height=200 + 28 * len(labels),
        xaxis_title=f"volume over the run ({MONEY_UNIT})",
        yaxis={"autorange": "reversed"},
    )
    return fig


def _limits(comparison: Comparison, path: str) -> dict[float, list[str]]:
    params = comparison.parameters
    if params.empty or path not in params:
        return {}
    by_sid = dict(zip(params.scenario_id, params[path], strict=True))
    out: dict[float, list[str]] = {}
    for side, policy, sid in (
        comparison.runs[["side", "policy", "scenario_id"]]
        .drop_duplicates(["side", "policy"])
        .itertuples(index=False)
    ):
        if sid in by_sid:
            name = "baseline" if side == "baseline" else policy
            out.setdefault(float(by_sid[sid]), []).append(name)
    return out


def fig_guarantee(comparison: Comparison, monthly: pd.DataFrame) -> go.Figure:
    """Guarantor leverage and payout rate by month, against the ceiling and the tolerance."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            "leverage used (guarantees outstanding / capital), dashed: ceiling",
            "payout rate, dashed: tolerated rate",
        ],
    )
    colors, shown = _colors(comparison), _shown(comparison)
    for col, (metric, limit) in enumerate(
        (("guarantor_leverage", "guarantor.leverage_max"),
         ("guarantee_payout_rate", "guarantor.payout_tolerance")), start=1
    ):  # fmt: skip
        _band_traces(fig, _bands(monthly, metric), colors, shown, (1, col))
        for value, names in _limits(comparison, limit).items():
            text = f"{value:g}" if col == 1 else f"{value:.1%}"
            names = names if len(names) <= 2 else [f"{names[0]} and {len(names) - 1} more"]
            fig.add_hline(
                y=value,
                line_dash="dash",
                line_color="#b22222",
                annotation_text=f"{text} ({', '.join(names)})",
                annotation_position="top left",
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="month")
    fig.update_layout(height=460, legend={"orientation": "h", "y": -0.18})
    return fig


VFM_GAINS = (
    ("extra_credit", "credit", "extra SME credit", "#1f77b4"),
    ("gap_closed", "gap", "financing gap closed", "#ff7f0e"),
    ("lost_output_avoided", "output", "lost output avoided", "#2ca02c"),
)


def fig_vfm(comparison: Comparison) -> go.Figure:
    """Ranked levers: absolute gains (with 95% CI) and gains per unit of extra public cost."""
    vfm = comparison.value_for_money()
    names = [f"{r}. {p}" for r, p in zip(vfm["rank"], vfm.policy, strict=True)]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            f"gain over the run ({MONEY_UNIT}, 95% CI)",
            f"gain per {MONEY_UNIT} of extra public cost",
        ],
        shared_yaxes=True,
    )
    for i, (key, short, label, color) in enumerate(VFM_GAINS):
        fig.add_bar(
            y=names, x=vfm[key], orientation="h", name=label, legendgroup=key,
            marker_color=color, row=1, col=1,
            error_x={"type": "data", "array": vfm[f"{key}_high"] - vfm[key],
                     "arrayminus": vfm[key] - vfm[f"{key}_low"]},
        )  # fmt: skip
        ratio = vfm[f"{short}_per_public_cost"]
        text = ["no extra public cost" if i == 0 and not math.isfinite(v) else "" for v in ratio]
        fig.add_bar(
            y=names, x=ratio.fillna(0.0), orientation="h", text=text, textposition="outside",
            legendgroup=key, showlegend=False, marker_color=color, row=1, col=2,
        )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="group", height=240 + 60 * len(names), legend={"orientation": "h"})
    return fig


def _vfm_text(comparison: Comparison) -> str:
    gain = dict((k, label) for k, _, label, _ in VFM_GAINS)[comparison.rank_by]
    return (
        f"<p>Ranked by {_esc(gain)} per unit of extra public cost. Public cost is the "
        f"government's money only (guarantee-fee subsidies and payout reimbursements), so "
        f"levers that cost the government nothing have no ratio: those with a positive gain "
        f"rank first, by the gain itself; their cost falls on core firms, banks or guarantors. "
        f"Credit volume can fall while SMEs fare better, when a lever removes the need to "
        f"borrow (late-payment enforcement pays them on time).</p>"
    )


def fig_sensitivity(result: SensitivityResult) -> go.Figure:
    """Tornado of the parameters' importance for the metric, one bar colour per SME group."""
    idx = result.indices
    order = list(result.ranking("all").parameter)[::-1]
    fig = go.Figure()
    for i, group in enumerate(g for g in GROUPS if g in set(idx.group)):
        rows = idx[idx.group == group].set_index("parameter").reindex(order)
        fig.add_bar(
            y=order, x=rows.importance, orientation="h", name=GROUP_LABELS[group],
            error_x={"type": "data", "array": rows.importance_conf},
            marker_color=[BASE_COLOR, *COLORS][i], visible=True if group == "all" else "legendonly",
        )  # fmt: skip
    key = (
        "mu* (mean |change| across the range)"
        if result.study.method == "morris"
        else "total-order Sobol' index ST"
    )
    fig.update_layout(
        barmode="group",
        height=220 + 40 * len(order),
        xaxis_title=f"{key} of {result.metric}",
    )
    return fig


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
) -> str:
    """The report as one HTML string (plotly.js inline; no network needed to open it)."""
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
    if comparison is not None:
        sections.append(f"<h2>Key differences, all SMEs</h2>{_table(comparison, False)}")
        sections.append(
            f"<details><summary>Every metric and group</summary>{_table(comparison, True)}"
            f"</details>"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SCF-Sim: {_esc(title)}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        f'<h1>SCF-Sim policy report</h1><p class="meta">{_esc(title)}. Generated {stamp} by '
        f"scf.</p>{''.join(body)}{''.join(sections)}</body></html>\n"
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
