"""The offline HTML page of a calibration: each parameter's prior and posterior, the strongest
posterior correlations, each target's posterior-predictive interval against the study's figure
(fitted and held out apart), and the parameters these targets do not identify.

plotly.js is embedded once, as in report.py, so the file opens offline.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from analysis.posterior import ParamSummary
from analysis.report import PLOT_CONFIG, offline_page
from analysis.targets import Targets

PRIOR_COLOR, POST_COLOR, FIGURE_COLOR = "#9e9e9e", "#2c7fb8", "#d7301f"
SCALE = {"pct": (100, "%"), "pt": (100, " pt"), "share": (100, "%")}
AXIS = (-1.5, 3.0)  # the targets chart's x range when some interval reaches beyond it


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _fmt(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "-"
    k, suffix = SCALE.get(unit, (1, "x" if unit == "x" else ""))
    return f"{v * k:,.2f}{suffix}" if k != 1 or unit == "x" else f"{v:,.4g}"


def _div(fig: go.Figure) -> str:
    fig.update_layout(template="plotly_white", margin={"t": 50, "b": 40, "l": 60, "r": 20})
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOT_CONFIG)


def fig_parameters(targets: Targets, posterior: pd.DataFrame,
                   params: list[ParamSummary]) -> go.Figure:
    """Prior (grey) and posterior (blue) density of every parameter, 90% range shaded."""
    n = len(params)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    titles = [p.path + ("" if p.identified else " (not identified)") for p in params]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
    w = posterior["weight"].to_numpy(float)
    for k, (prior, p) in enumerate(zip(targets.priors, params, strict=True)):
        r, c = k // cols + 1, k % cols + 1
        # densities in the sampled coordinate (log for a log-uniform prior: flat there)
        lo, hi = prior.internal_bounds
        edges = np.linspace(lo, hi, 31)
        x = np.array([prior.to_internal(v) for v in posterior[p.path]])
        post, _ = np.histogram(x, bins=edges, weights=w, density=True)
        prior_density = np.full(30, 1 / (hi - lo))
        mids = (edges[1:] + edges[:-1]) / 2
        if prior.prior == "loguniform":
            edges, mids = np.exp(edges), np.exp(mids)
        first = k == 0
        fig.add_scatter(x=mids, y=prior_density, mode="lines", line={"color": PRIOR_COLOR,
                        "dash": "dot"}, name="prior", legendgroup="prior", showlegend=first,
                        row=r, col=c)
        fig.add_bar(x=mids, y=post, width=np.diff(edges), marker_color=POST_COLOR, opacity=0.6,
                    name="posterior", legendgroup="post", showlegend=first, row=r, col=c)
        fig.add_vrect(x0=p.low, x1=p.high, fillcolor=POST_COLOR, opacity=0.08, line_width=0,
                      row=r, col=c)
        fig.add_vline(x=p.median, line_color=POST_COLOR, row=r, col=c)
        if prior.prior == "loguniform":
            fig.update_xaxes(type="log", row=r, col=c)
    fig.update_layout(height=260 * rows, bargap=0,
                      title="Prior (dotted) and posterior (bars); line: median, shade: 90% range")
    return fig


def fig_targets(table: pd.DataFrame) -> go.Figure:
    """Each target's posterior-predictive 90% and 95% intervals and mean, against the figure.
    Values are shown relative to the figure (interval / figure), so every target fits one
    axis; the hover gives them in their units."""
    fig = go.Figure()
    labels = [f"{r.target} ({'fitted' if r.role == 'fitted' else 'held out'})"
              for r in table.itertuples()]
    for y, r in zip(labels, table.itertuples(), strict=True):
        base = abs(r.figure) if r.figure else 1.0
        rel = [(v - r.figure) / base for v in (r.low95, r.low90, r.mean, r.high90, r.high95)]
        hover = (f"{r.target}: figure {_fmt(r.figure, r.unit)} {r.bound}<br>mean "
                 f"{_fmt(r.mean, r.unit)}; 95% {_fmt(r.low95, r.unit)} .. "
                 f"{_fmt(r.high95, r.unit)}<br>{r.verdict}")
        color = POST_COLOR if r.role == "fitted" else "#238b45"
        fig.add_scatter(x=[rel[0], rel[4]], y=[y, y], mode="lines", line={"color": color,
                        "width": 2}, hoverinfo="skip", showlegend=False)
        fig.add_scatter(x=[rel[1], rel[3]], y=[y, y], mode="lines", line={"color": color,
                        "width": 8}, hoverinfo="skip", showlegend=False)
        fig.add_scatter(x=[rel[2]], y=[y], mode="markers", marker={"color": color, "size": 9},
                        hovertext=hover, hoverinfo="text", showlegend=False)
    fig.add_vline(x=0, line_color=FIGURE_COLOR, annotation_text="the study's figure")
    spans = [(v - r.figure) / (abs(r.figure) or 1.0) for r in table.itertuples()
             for v in (r.low95, r.high95) if math.isfinite(v)]
    low, high = min([-0.5, *spans]), max([0.5, *spans])
    title = "(model - figure) / |figure|"
    if low < AXIS[0] or high > AXIS[1]:  # one wild interval would squash every other
        low, high = max(low, AXIS[0]), min(high, AXIS[1])
        title += f" (cut at {AXIS[0]:.0%} .. {AXIS[1]:+.0%}: the tables give every interval)"
    fig.update_xaxes(title=title, tickformat=".0%", range=[low * 1.05, high * 1.05])
    fig.update_layout(height=120 + 40 * len(table), title="Posterior-predictive intervals "
                      "(thin: 95%, thick: 90%, dot: mean) against the study's figures")
    return fig


def _param_table(params: list[ParamSummary]) -> str:
    head = ("<tr><th>parameter</th><th>median</th><th>90% range</th><th>prior</th>"
            "<th>width vs prior</th><th>identified</th></tr>")
    rows = []
    for p in params:
        rows.append(
            f"<tr><td>{_esc(p.path)}</td><td>{p.median:.4g}</td><td>{p.low:.4g} .. {p.high:.4g}"
            f"</td><td>{_esc(p.prior)} {p.prior_low:g} .. {p.prior_high:g}</td>"
            f"<td>{p.width_ratio:.0%}</td><td>{'yes' if p.identified else '<b>no</b>'}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _target_table(table: pd.DataFrame, role: str) -> str:
    head = ("<tr><th>target</th><th>study</th><th>line</th><th>figure</th><th>model mean</th>"
            "<th>95% interval</th><th>90% interval</th><th>verdict</th><th>note</th></tr>")
    rows = []
    for r in table[table.role == role].itertuples():
        rows.append(
            f"<tr><td>{_esc(r.target)}</td><td>{_esc(r.study)}</td><td>{_esc(r.line)}</td>"
            f"<td>{_esc(r.bound)} {_fmt(r.figure, r.unit)}</td><td>{_fmt(r.mean, r.unit)}</td>"
            f"<td>{_fmt(r.low95, r.unit)} .. {_fmt(r.high95, r.unit)}</td>"
            f"<td>{_fmt(r.low90, r.unit)} .. {_fmt(r.high90, r.unit)}</td>"
            f"<td>{_esc(r.verdict)}</td><td>{_esc(r.note)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def build(targets: Targets, posterior: pd.DataFrame, params: list[ParamSummary],
          correlations: list[tuple[str, str, float]], table: pd.DataFrame,
          facts: dict[str, Any]) -> str:
    """The page as one HTML string (plotly.js inline)."""
    loose = [p.path for p in params if not p.identified]
    flags = (f'<p class="warn">Not identified by these targets (posterior 90% range at least '
             f'80% as wide as the prior\'s): {_esc(", ".join(loose))}.</p>' if loose else
             "<p>Every parameter's posterior is narrower than its prior.</p>")
    corr = "".join(f"<li>{_esc(a)} ~ {_esc(b)}: r = {r:+.2f}</li>" for a, b, r in correlations)
    corr_html = (f"<h2>Strongest posterior correlations</h2><ul>{corr}</ul><p>Strong "
                 f"correlations mean the targets fix a combination of the parameters rather than "
                 f"each one.</p>" if correlations else "")
    meta = "; ".join(f"{_esc(k)}: {_esc(v)}" for k, v in facts.items())
    body = (
        f'<p class="meta">{meta}</p>'
        f"<h2>Parameters: prior and posterior</h2>{flags}{_param_table(params)}"
        f"<p>Densities are drawn in the sampled scale: log for log-uniform priors, whose "
        f"prior is then flat.</p>"
        f"{_div(fig_parameters(targets, posterior, params))}{corr_html}"
        f"<h2>Targets: posterior-predictive intervals</h2><p>Intervals over parameter draws "
        f"and seeds. Fitted figures were used to find the posterior (agreement is expected); "
        f"held-out figures were not (agreement is a test).</p>"
        f"{_div(fig_targets(table))}<h3>Fitted</h3>{_target_table(table, 'fitted')}"
        f"<h3>Held out</h3>{_target_table(table, 'held_out')}"
    )
    title = f"Calibration: {targets.path.name}"
    return offline_page(title, f"SCF-Sim {title}", _esc(targets.spec.description), body)
