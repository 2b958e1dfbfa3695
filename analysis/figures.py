"""The HTML report's Plotly figures: monthly paths with bands over seeds, tiers, instrument mix,
guarantee system health, value for money and sensitivity. Figures only; the page is report.py."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.compare import MONEY_UNIT, Comparison
from analysis.labels import GROUP_LABELS, LABEL
from analysis.sensitivity import SensitivityResult
from simulation.metrics import GROUPS

BASE_COLOR = "#4d4d4d"
COLORS = [*qualitative.Plotly, *qualitative.Bold[:11]]  # no greys: grey is the baseline
SHOWN = 4  # policies drawn on the monthly charts at first; the rest one legend click away
BAND = (0.1, 0.9)


def _rgba(color: str, alpha: float) -> str:
    """`#rrggbb` or `rgb(r, g, b)` (plotly's palettes use both) with an alpha."""
    if color.startswith("rgb"):
        r, g, b = (float(x) for x in color[color.index("(") + 1 : -1].split(",")[:3])
    else:
        r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r:g},{g:g},{b:g},{alpha})"


def _colors(comparison: Comparison) -> dict[str, str]:
    out = {f"baseline: {comparison.baseline}": BASE_COLOR}
    for i, policy in enumerate(comparison.policies):
        out[policy] = COLORS[i % len(COLORS)]
    return out


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
    """Stacked credit volume by instrument for the baseline and each policy; hovering a segment
    gives the instrument's all-in annual rate (mean over seeds)."""
    table = comparison.table[comparison.table.group == "all"]
    t = table[table.metric.str.startswith("volume_by_instrument.")]
    labels = [f"baseline: {comparison.baseline}", *comparison.policies]
    fig = go.Figure()
    for i, (metric, rows) in enumerate(t.groupby("metric", sort=False)):
        name = metric.removeprefix("volume_by_instrument.")
        rows = rows.set_index("policy")
        values = [rows.baseline_mean.iloc[0], *(rows.policy_mean.get(p) for p in labels[1:])]
        rates = table[table.metric == f"rate_by_instrument.{name}"].set_index("policy")
        rate = [
            rates.baseline_mean.iloc[0] if len(rates) else math.nan,
            *(rates.policy_mean.get(p, math.nan) for p in labels[1:]),
        ]
        fig.add_bar(
            y=labels,
            x=values,
            orientation="h",
            name=name.replace("_", " "),
            marker_color=qualitative.Set2[i % len(qualitative.Set2)],
            customdata=["n/a" if not math.isfinite(r) else f"{r:.2%}" for r in rate],
            hovertemplate="%{y}<br>%{fullData.name}: %{x:,.0f} at %{customdata} a year"
            "<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        height=200 + 28 * len(labels),
        xaxis_title=f"volume over the run ({MONEY_UNIT}); hover: all-in annual rate",
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
