"""The outcome of a policy search: its trials, the Pareto front, the front checked again on
fresh seeds, each point as a scenario file, and an offline HTML page.

A point is on the front when it meets every constraint (on its trial seeds' means) and no other
such point is at least as good on every objective and better on one. Because a trial's means
carry the noise of a few seeds, the front is evaluated again on seeds no trial used, beside the
base scenario on the same seeds (paired): a point whose objectives or constraints do not hold
there was a noise winner.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.optimize import Problem
from analysis.stats import mean_interval, paired_stats
from simulation.scenario import to_yaml

POINTS_DIR = "points"


def trials_frame(study: Any, problem: Problem) -> pd.DataFrame:
    """One row per finished trial: number, state, feasible, error, lever values, metric means."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name not in ("COMPLETE", "FAIL") or (
            t.state.name == "FAIL" and "error" not in t.user_attrs
        ):
            continue
        means = t.user_attrs.get("means", {})
        violations = t.user_attrs.get("constraints", [math.inf])  # [] when there are none
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "feasible": t.state.name == "COMPLETE" and all(v <= 0 for v in violations),
            "error": t.user_attrs.get("error"),
        }
        row.update({lv.path: t.params.get(lv.path) for lv in problem.levers})
        row.update({m: means.get(m, math.nan) for m in problem.metrics})
        rows.append(row)
    columns = ["trial", "state", "feasible", "error", *[lv.path for lv in problem.levers],
               *problem.metrics]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def pareto_front(trials: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """The feasible, non-dominated trials (one per distinct lever mix), best first objective
    first."""
    ok = trials[trials.feasible].copy()
    if ok.empty:
        return ok
    signs = np.array([1.0 if d == "minimize" else -1.0 for _, d in problem.objectives])
    cost = ok[[m for m, _ in problem.objectives]].to_numpy(dtype=float) * signs
    keep = []
    for i in range(len(cost)):
        dominated = np.any(np.all(cost <= cost[i], axis=1) & np.any(cost < cost[i], axis=1))
        keep.append(not dominated)
    front = ok[keep]
    front = front.drop_duplicates([lv.path for lv in problem.levers])
    first, direction = problem.objectives[0]
    return front.sort_values(first, ascending=direction == "minimize").reset_index(drop=True)


def recheck(front: pd.DataFrame, problem: Problem, evaluator: Any) -> pd.DataFrame:
    """The front and the base on fresh seeds: per point and metric, the mean with its interval
    and the paired difference from the base; `holds` says whether every constraint is met by
    the fresh mean, `sure` whether by the whole interval."""
    if front.empty:
        return pd.DataFrame()
    values = [_levers(row, problem) for _, row in front.iterrows()]
    configs = [problem.base, *(problem.config(v) for v in values)]
    labels = ["base", *(f"trial-{int(t)}" for t in front.trial)]
    frame = evaluator.evaluate(configs, problem.recheck_seeds, months=problem.months,
                               labels=labels, experiment="front")  # fmt: skip
    base = frame[frame["index"] == 0].set_index("seed")
    rows = []
    for k, trial in enumerate(front.trial, start=1):
        runs = frame[frame["index"] == k].set_index("seed")
        row: dict[str, Any] = {"trial": int(trial), "seeds": len(runs)}
        for m in problem.metrics:
            mean, low, high = mean_interval(runs[m].astype(float).to_numpy())
            diff = paired_stats(base[m].astype(float), runs[m].astype(float).reindex(base.index))
            row |= {m: mean, f"{m}_low": low, f"{m}_high": high,
                    f"{m}_effect": diff["diff_mean"], f"{m}_effect_low": diff["ci_low"],
                    f"{m}_effect_high": diff["ci_high"]}  # fmt: skip
        row["holds"] = all(c.violation(row[c.metric]) <= 0 for c in problem.constraints)
        row["sure"] = all(
            c.violation(row[f"{c.metric}_low"] if c.op == ">=" else row[f"{c.metric}_high"]) <= 0
            for c in problem.constraints
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _levers(row: pd.Series, problem: Problem) -> dict[str, Any]:
    out = {}
    for lv in problem.levers:
        value = row[lv.path]
        if isinstance(value, np.generic):
            value = value.item()
        if lv.kind == "int" and not lv.choices:
            value = int(value)
        out[lv.path] = value
    return out


def export_points(front: pd.DataFrame, problem: Problem, out: str | Path) -> list[Path]:
    """Each front point as a complete scenario file `out/points/trial-<n>.yaml` that `scf run`
    reproduces (the horizon set to the study's months)."""
    folder = Path(out) / POINTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for _, row in front.iterrows():
        levers = _levers(row, problem)
        config = problem.config(levers)
        text = ", ".join(f"{k}={v}" for k, v in levers.items())
        config = config.model_copy(update={
            "months": problem.months,
            "description": f"Pareto point trial {int(row.trial)} of {problem.name} on "
                           f"{problem.scenario}: {text}",
        })  # fmt: skip
        path = folder / f"trial-{int(row.trial)}.yaml"
        path.write_text(to_yaml(config), encoding="utf-8")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- the page


def _figure(trials: pd.DataFrame, front: pd.DataFrame, problem: Problem) -> str:
    import plotly.graph_objects as go
    import plotly.io as pio

    (x, dx), *rest = problem.objectives
    y = rest[0][0] if rest else None
    fig = go.Figure()
    for name, sub, color in (
        ("infeasible", trials[~trials.feasible & (trials.state == "complete")], "#bbbbbb"),
        ("feasible", trials[trials.feasible], "#6baed6"),
        ("Pareto front", front, "#d62728"),
    ):
        if sub.empty:
            continue
        hover = [
            "<br>".join(f"{lv.path} = {r[lv.path]}" for lv in problem.levers)
            + f"<br>public cost {r['public_cost']:,.0f}"
            for _, r in sub.iterrows()
        ]
        fig.add_trace(go.Scatter(
            x=sub[x], y=sub[y] if y else sub.trial, mode="markers", name=name,
            marker={"color": color, "size": 11 if name == "Pareto front" else 7},
            text=hover, hovertemplate="trial %{customdata}<br>%{text}<extra></extra>",
            customdata=sub.trial,
        ))  # fmt: skip
    fig.update_layout(
        title=f"{len(trials)} trials: {dx} {x}" + (f", {rest[0][1]} {y}" if y else ""),
        xaxis_title=x, yaxis_title=y or "trial", height=480, template="plotly_white",
    )  # fmt: skip
    return pio.to_html(fig, include_plotlyjs=False, full_html=False,
                       config={"displaylogo": False, "responsive": True})  # fmt: skip


def _table(front: pd.DataFrame, checked: pd.DataFrame, problem: Problem) -> str:
    from simulation.costs import SUMMARY_KEYS

    metrics = [m for m, _ in problem.objectives] + [c.metric for c in problem.constraints]
    metrics = list(dict.fromkeys(metrics))
    head = ["trial", *[lv.path for lv in problem.levers], *metrics,
            *(f"fresh {m} (95% CI)" for m in metrics), "constraints hold (fresh)",
            *(k.removeprefix("public_cost_") for k in SUMMARY_KEYS)]  # fmt: skip
    by = checked.set_index("trial") if not checked.empty else None
    lines = []
    for _, r in front.iterrows():
        cells = [str(int(r.trial)), *(str(r[lv.path]) for lv in problem.levers)]
        cells += [f"{r[m]:,.4g}" for m in metrics]
        if by is not None:
            c = by.loc[int(r.trial)]
            cells += [f"{c[m]:,.4g} [{c[f'{m}_low']:,.4g}, {c[f'{m}_high']:,.4g}]"
                      for m in metrics]  # fmt: skip
            cells.append("yes" if c.sure else "by the mean" if c.holds else "NO")
        else:
            cells += ["" for _ in metrics] + [""]
        cells += [f"{r[k]:,.1f}" for k in SUMMARY_KEYS]
        lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def page(trials: pd.DataFrame, front: pd.DataFrame, checked: pd.DataFrame,
         problem: Problem) -> str:  # fmt: skip
    """The study as one offline HTML page: the trials and front, each point's levers and
    public cost by item, and the front on fresh seeds."""
    from analysis.report import offline_page

    objectives = "; ".join(f"{d} {m}" for m, d in problem.objectives)
    constraints = "; ".join(c.text() for c in problem.constraints) or "none"
    levers = "; ".join(lv.describe() for lv in problem.levers)
    meta = (
        f"<p class='meta'>{html.escape(problem.description)}</p><p class='meta'>Base "
        f"<b>{html.escape(problem.scenario)}</b>, {problem.months} months, trial seeds "
        f"{problem.seeds}, fresh seeds {problem.recheck_seeds}. Levers: {html.escape(levers)}. "
        f"Objectives: {html.escape(objectives)}. Constraints: {html.escape(constraints)}. "
        f"Sampler {problem.sampler}. Money in 10k CNY (万元), totals over the run.</p>"
    )
    body = (_figure(trials, front, problem) if not trials.empty else "") + (
        f"<h2>Pareto front ({len(front)} points)</h2>{_table(front, checked, problem)}"
        if not front.empty else "<h2>No trial met the constraints</h2>"
    )  # fmt: skip
    return offline_page(f"policy search {problem.name}", f"Policy search: {problem.name}",
                        "Found by scf optimize", meta + body)  # fmt: skip
