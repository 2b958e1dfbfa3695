"""Plotly figures of the dashboard: monthly paths, instrument mix, the supply network by tier.

Baseline is drawn grey and dashed, policy in colour, everywhere, so the eye reads "what changed".
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboards.i18n import instrument, t
from dashboards.layout import Pos, edge_segments
from dashboards.results import PATHS
from simulation import RunResult

BASE_STYLE = {"color": "#8c8c8c", "dash": "dash"}
POLICY_STYLE = {"color": "#1f77b4"}
STATUS_COLOURS = {
    "funded": "#2ca02c",
    "rationed": "#ff7f0e",
    "defaulted": "#d62728",
    "no_need": "#c7c7c7",
}
TIER_NAMES = {-2: "tier2", -1: "tier1", 0: "cores", 1: "distributor"}
MAX_EDGES = 4000
GRID = "#ececec"
# A plain white look without a plotly template (templates cost ~0.1-0.3 s per figure).
PLAIN = {
    "template": "none",
    "plot_bgcolor": "white",
    "paper_bgcolor": "white",
    "font": {"family": "Roboto, 'Noto Sans CJK SC', sans-serif"},
}


def _path_series(result: RunResult, column: str) -> tuple[np.ndarray, np.ndarray]:
    df = result.monthly
    sub = df[df["group"] == "all"]
    y = sub[column].to_numpy(dtype=float)
    return sub["month"].to_numpy(), y


def _grid(n: int, cols: int, titles: list[str]) -> dict:
    """Layout axes for n panels on a grid (cheaper than make_subplots, same look)."""
    rows = (n + cols - 1) // cols
    hgap, vgap = 0.07, 0.16
    w, h = (1 - hgap * (cols - 1)) / cols, (1 - vgap * (rows - 1)) / rows
    layout: dict = {"annotations": []}
    for i in range(n):
        r, c = divmod(i, cols)
        x0, y1 = c * (w + hgap), 1 - r * (h + vgap)
        k = "" if i == 0 else str(i + 1)
        layout[f"xaxis{k}"] = {"domain": [x0, x0 + w], "anchor": f"y{k}", "gridcolor": GRID}
        layout[f"yaxis{k}"] = {"domain": [y1 - h, y1], "anchor": f"x{k}", "gridcolor": GRID}
        layout["annotations"].append(
            {
                "text": titles[i],
                "x": x0 + w / 2,
                "y": y1,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12},
            }
        )
    return layout


def paths_figure(base: RunResult, pol: RunResult, lang: str) -> go.Figure:
    """Monthly paths of the key indicators, baseline and policy, in a grid of panels."""
    cols = 3
    rows = (len(PATHS) + cols - 1) // cols
    layout = _grid(len(PATHS), cols, [t(k, lang) for k, _ in PATHS])
    data = []
    for i, (key, kind) in enumerate(PATHS):
        k = "" if i == 0 else str(i + 1)
        for run, name, style in ((base, "baseline", BASE_STYLE), (pol, "policy", POLICY_STYLE)):
            x, y = _path_series(run, key)
            if kind == "pct":
                y = 100 * y
            data.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": y,
                    "mode": "lines",
                    "name": t(name, lang),
                    "line": style,
                    "legendgroup": name,
                    "showlegend": i == 0,
                    "xaxis": f"x{k}",
                    "yaxis": f"y{k}",
                }
            )
        if kind == "pct":
            layout[f"yaxis{k}"]["ticksuffix"] = "%"
        if i >= len(PATHS) - cols:
            layout[f"xaxis{k}"]["title"] = {"text": t("month", lang)}
    layout.update(
        height=260 * rows,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.12},
        **PLAIN,
    )
    return go.Figure(data=data, layout=layout)


def mix_figure(
    base: dict[str, float],
    pol: dict[str, float],
    lang: str,
    rates: tuple[dict[str, float | None], dict[str, float | None]] | None = None,
) -> go.Figure:
    """Financing volume by instrument over the run, baseline beside policy (10k CNY); with
    `rates` (baseline's, policy's), each bar ends in that instrument's all-in annual rate."""
    names = [k for k in base.keys() | pol.keys() if base.get(k, 0) > 0 or pol.get(k, 0) > 0]
    names = sorted(names, key=lambda k: -max(base.get(k, 0), pol.get(k, 0)))
    labels = [instrument(k, lang) for k in names]
    rates = rates or ({}, {})

    def rate_text(r: dict[str, float | None], k: str) -> str:
        return "" if r.get(k) is None else f"{r[k]:.2%}"

    fig = go.Figure(
        [
            go.Bar(
                y=labels,
                x=[vol.get(k, 0) for k in names],
                orientation="h",
                name=t(name, lang),
                marker_color=style["color"],
                text=[rate_text(r, k) for k in names],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{y}}: %{{x:,.0f}}<br>{t('all_in_rate', lang)} %{{text}}"
                "<extra></extra>",
            )
            for vol, r, name, style in (
                (base, rates[0], "baseline", BASE_STYLE),
                (pol, rates[1], "policy", POLICY_STYLE),
            )
        ]
    )
    fig.update_layout(
        barmode="group",
        height=90 + 55 * max(len(names), 1),
        margin={"l": 10, "r": 50, "t": 10, "b": 30},
        xaxis={"title": {"text": t("money_unit", lang)}, "gridcolor": GRID},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": -0.25},
        **PLAIN,
    )
    return fig


# The summary's breakdowns by firm size and risk (simulation.metrics), in their order
BREAKDOWN_GROUPS = ("size_micro", "size_small", "size_medium", "risk_low", "risk_medium",
                    "risk_high")


def groups_figure(base: RunResult, pol: RunResult, lang: str) -> go.Figure:
    """Credit access by firm size and risk band, baseline beside policy: who a policy reaches.
    A group with nobody in need has no bar (no value, not 100%)."""
    labels = [t(g, lang) for g in BREAKDOWN_GROUPS]

    def access(r: RunResult) -> list[float | None]:
        by = r.summary.get("by_group", {})
        return [by.get(g, {}).get("credit_access_rate") for g in BREAKDOWN_GROUPS]

    fig = go.Figure(
        [
            go.Bar(
                y=labels,
                x=access(r),
                orientation="h",
                name=t(name, lang),
                marker_color=style["color"],
                hovertemplate="%{y}: %{x:.1%}<extra></extra>",
            )
            for r, name, style in ((base, "baseline", BASE_STYLE), (pol, "policy", POLICY_STYLE))
        ]
    )
    fig.update_layout(
        barmode="group",
        height=90 + 45 * len(labels),
        margin={"l": 10, "r": 30, "t": 10, "b": 30},
        xaxis={"title": {"text": t("credit_access_rate", lang)}, "tickformat": ".0%",
               "range": [0, 1], "gridcolor": GRID},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": -0.25},
        **PLAIN,
    )
    return fig


def network_figure(g, pos: Pos, status: np.ndarray, lang: str) -> go.Figure:
    """SMEs placed by tier and coloured by their status in one month; cores as squares.

    `status` holds one status name per SME (nodes 0..N-1 of the graph are the SMEs).
    """
    n_sme = len(status)
    big = n_sme > 3000
    scatter = go.Scattergl if big else go.Scatter
    ex, ey = edge_segments(g, pos, MAX_EDGES)
    traces = [
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            hoverinfo="skip",
            showlegend=False,
            line={"color": "rgba(120,120,120,0.18)", "width": 0.6},
        )
    ]
    xy = np.array([pos[i] for i in range(n_sme)]) if n_sme else np.zeros((0, 2))
    for name, colour in STATUS_COLOURS.items():
        idx = np.flatnonzero(status == name)
        traces.append(
            scatter(
                x=xy[idx, 0],
                y=xy[idx, 1],
                mode="markers",
                name=f"{t(name, lang)} ({len(idx)})",
                marker={"color": colour, "size": 4 if big else 6},
                text=[f"SME {i}" for i in idx],
                hoverinfo="text",
            )
        )
    cores = [n for n, d in g.nodes(data=True) if d.get("kind") == "core"]
    traces.append(
        go.Scatter(
            x=[pos[n][0] for n in cores],
            y=[pos[n][1] for n in cores],
            mode="markers",
            name=t("core", lang),
            marker={"color": "#08306b", "size": 11, "symbol": "square"},
            text=[g.nodes[n].get("role", "core") for n in cores],
            hoverinfo="text",
        )
    )
    fig = go.Figure(traces)
    tiers = sorted({round(x) for x, _ in pos.values()})
    fig.update_layout(
        height=520,
        **PLAIN,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis={
            "tickvals": tiers,
            "ticktext": [t(TIER_NAMES.get(x, "cores"), lang) for x in tiers],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"visible": False},
        legend={"orientation": "h", "y": -0.08},
    )
    return fig
