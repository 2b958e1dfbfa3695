"""Scenario discovery: the boxes of parameter ranges where a metric meets a threshold (PRIM).

The cases are the configurations of a results store (one per `scenario_id`, e.g. the points of
an LHS sweep run by `scf batch`), each with the mean of the metric over its seeds. The inputs
are the resolved parameters that differ between those configurations (numbers, and true/false
as 0/1). A case is "of interest" when its mean meets the threshold (>= by default, <= with
`below`). PRIM (the `prim` package, Friedman and Fisher 1999) peels the parameter space down to
a box where the cases of interest are dense, then the next box over the cases left, and so on.
For each box: its limits on the parameters it restricts, its coverage (the share of all cases
of interest inside it) and its density (the share of the cases inside it that are of interest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.compare import with_total_credit
from analysis.evaluate import check_metric
from analysis.store import load_parameters, load_summaries
from simulation.scenario import ConfigError


@dataclass
class Box:
    """One PRIM box: limits of the parameters it restricts, and how good it is."""

    limits: dict[str, tuple[float, float]]  # restricted parameter -> (min, max) inside the box
    ranges: dict[str, tuple[float, float]]  # the same parameters over all cases
    coverage: float
    density: float
    mass: float  # share of all cases inside the box
    cases: int  # cases inside the box

    def text(self) -> str:
        """`a in [x, y]; b in [u, v]` (or `everywhere`)."""
        return "; ".join(f"{p} in [{lo:g}, {hi:g}]" for p, (lo, hi) in self.limits.items()) or (
            "everywhere"
        )

    def centre(self) -> dict[str, float]:
        """The middle of the box on each restricted parameter."""
        return {p: (lo + hi) / 2 for p, (lo, hi) in self.limits.items()}


@dataclass
class Discovery:
    """The boxes found, and the cases they were found in."""

    metric: str
    threshold: float
    below: bool
    cases: pd.DataFrame  # one row per configuration: inputs, the metric's mean, `interest`
    inputs: list[str]
    boxes: list[Box]
    store: str

    @property
    def rule(self) -> str:
        """`metric >= threshold` (or <=)."""
        return f"{self.metric} {'<=' if self.below else '>='} {self.threshold:g}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "store": self.store, "rule": self.rule, "cases": len(self.cases),
            "of_interest": int(self.cases.interest.sum()), "inputs": self.inputs,
            "boxes": [
                {"limits": {k: list(v) for k, v in b.limits.items()}, "coverage": b.coverage,
                 "density": b.density, "mass": b.mass, "cases": b.cases}
                for b in self.boxes
            ],
        }  # fmt: skip


def cases_of(
    summaries: pd.DataFrame, parameters: pd.DataFrame, metric: str
) -> tuple[pd.DataFrame, list[str]]:
    """One row per configuration: the parameters that vary (as numbers) and the metric's mean
    over its seeds; and the names of those parameters."""
    ok = with_total_credit(summaries[summaries.status == "ok"])
    if ok.empty:
        raise ConfigError("the store has no finished runs")
    if metric not in ok.columns:
        raise ConfigError(f"--metric {metric}: not in the store's run summaries")
    y = ok.groupby("scenario_id")[metric].mean()
    params = parameters.set_index("scenario_id").loc[y.index]
    inputs = []
    frame = pd.DataFrame(index=y.index)
    for column in params.columns:
        values = params[column]
        if values.dtype == bool or set(values.dropna().unique()) <= {True, False}:
            values = values.astype(float)
        if not pd.api.types.is_numeric_dtype(values) or values.nunique(dropna=True) < 2:
            continue
        frame[column] = values.astype(float)
        inputs.append(column)
    frame[metric] = y.astype(float)
    return frame.reset_index(), inputs


def discover(
    cases: pd.DataFrame,
    inputs: list[str],
    metric: str,
    threshold: float,
    *,
    below: bool = False,
    boxes: int = 3,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    store: str = "",
) -> Discovery:
    """PRIM boxes where `metric` meets `threshold` among `cases` (from `cases_of`)."""
    import prim

    if not inputs:
        raise ConfigError(
            f"{store or 'store'}: no parameter varies between its configurations; run a sweep "
            f"(an experiment with sweep: lhs) with scf batch first"
        )
    if not 0 < peel_alpha < 0.5:
        raise ConfigError(f"--peel-alpha: must be between 0 and 0.5 (got {peel_alpha})")
    if boxes < 1:
        raise ConfigError(f"--boxes: must be >= 1 (got {boxes})")
    values = cases[metric].to_numpy(dtype=float)
    interest = values <= threshold if below else values >= threshold
    interest &= np.isfinite(values)
    cases = cases.assign(interest=interest)
    rule = f"{metric} {'<=' if below else '>='} {threshold:g}"
    span = f"{np.nanmin(values):g} .. {np.nanmax(values):g}"
    if not interest.any():
        raise ConfigError(f"--threshold: no configuration has {rule} (the means span {span})")
    if interest.all():
        raise ConfigError(f"--threshold: every configuration has {rule} (the means span {span})")
    x = cases[inputs].astype(float)
    finder = prim.Prim(x, interest, peel_alpha=peel_alpha, mass_min=mass_min)
    found: list[Box] = []
    left = int(interest.sum())
    for _ in range(boxes):
        box = finder.find_box()
        if box is None:
            break
        limits = box.limits
        restricted = {}
        ranges = {}
        for p in limits.index:
            lo, hi = float(limits.loc[p, "min"]), float(limits.loc[p, "max"])
            full = (float(x[p].min()), float(x[p].max()))
            if (lo, hi) != full:
                restricted[p], ranges[p] = (lo, hi), full
        found.append(Box(restricted, ranges, float(box.coverage), float(box.density),
                         float(box.mass), len(box.yi)))  # fmt: skip
        left -= int(interest[box.yi].sum())
        if left == 0 or box.density < 0.5 or not restricted:
            break  # nothing left, or what is left is no denser than chance would give
    return Discovery(metric, threshold, below, cases, inputs, found, store)


def discover_store(
    path: str | Path,
    metric: str,
    threshold: float,
    *,
    experiment: str | None = None,
    below: bool = False,
    boxes: int = 3,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """`discover` over the configurations of a results store."""
    check_metric(metric)
    if not math.isfinite(threshold):
        raise ConfigError(f"--threshold: must be a number (got {threshold})")
    summaries = load_summaries(path, experiment)
    cases, inputs = cases_of(summaries, load_parameters(path, experiment), metric)
    return discover(cases, inputs, metric, threshold, below=below, boxes=boxes,
                    peel_alpha=peel_alpha, mass_min=mass_min, store=str(path))  # fmt: skip


def box_scenarios(found: Discovery, path: str | Path, folder: str | Path) -> list[Path]:
    """Each box as a scenario file `folder/box-K.yaml`: the configuration of the box's case of
    interest nearest its centre, with the restricted parameters set to the centre (rounded for
    whole-number parameters, true/false for switches). `scf run` and the dashboard load them."""
    from analysis.store import Store
    from simulation.config import ScenarioConfig
    from simulation.scenario import parameter, to_yaml, with_overrides

    store = Store.open(path)
    plan = store.plan()
    first_run = plan[plan.status == "ok"].drop_duplicates("scenario_id").set_index("scenario_id")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, box in enumerate(found.boxes, start=1):
        centre = box.centre()
        inside = found.cases[found.cases.interest].copy()
        for p, (lo, hi) in box.limits.items():
            inside = inside[(inside[p] >= lo) & (inside[p] <= hi)]
        if inside.empty or not centre:
            continue
        span = {p: (hi - lo) or 1.0 for p, (lo, hi) in box.ranges.items()}
        dist = sum(((inside[p] - c) / span[p]) ** 2 for p, c in centre.items())
        sid = inside.loc[dist.idxmin(), "scenario_id"]
        config = store.run_meta(first_run.loc[sid, "run_id"])["config"]
        values: dict[str, Any] = {}
        for p, c in centre.items():
            kind = parameter(p).kind
            values[p] = c >= 0.5 if kind == "bool" else round(c) if kind == "int" else float(c)
        scenario = with_overrides(ScenarioConfig.model_validate(config), values)
        scenario = scenario.model_copy(update={
            "description": f"Box {k} of {found.rule} in {found.store} (coverage "
                           f"{box.coverage:.0%}, density {box.density:.0%}): {box.text()}; "
                           f"set to the box's centre",
        })  # fmt: skip
        target = folder / f"box-{k}.yaml"
        target.write_text(to_yaml(scenario), encoding="utf-8")
        written.append(target)
    return written


def page(found: Discovery) -> str:
    """The boxes as one offline HTML page: a table per box and the cases on the two parameters
    the first box restricts most."""
    import html

    import plotly.graph_objects as go
    import plotly.io as pio

    from analysis.report import offline_page

    parts = [
        f"<p class='meta'>Store {html.escape(found.store)}: {len(found.cases)} configurations, "
        f"{int(found.cases.interest.sum())} with {html.escape(found.rule)} (mean over seeds). "
        f"Parameters that vary: {html.escape(', '.join(found.inputs))}. Coverage: share of "
        f"those configurations inside the box; density: share of the box's configurations "
        f"that meet the rule.</p>"
    ]
    for k, box in enumerate(found.boxes, start=1):
        rows = "".join(
            f"<tr><td>{html.escape(p)}</td><td>{lo:g}</td><td>{hi:g}</td>"
            f"<td>{box.ranges[p][0]:g} .. {box.ranges[p][1]:g}</td></tr>"
            for p, (lo, hi) in box.limits.items()
        )
        parts.append(
            f"<h2>Box {k}: coverage {box.coverage:.0%}, density {box.density:.0%}, "
            f"{box.cases} configurations</h2><table><thead><tr><th>parameter</th><th>from</th>"
            f"<th>to</th><th>range in the store</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    dims = list(found.boxes[0].limits)[:2] if found.boxes else []
    dims += [p for p in found.inputs if p not in dims][: 2 - len(dims)]
    if len(dims) == 2:
        x, y = dims
        fig = go.Figure()
        for label, sub, color in (
            ("meets the rule", found.cases[found.cases.interest], "#d62728"),
            ("does not", found.cases[~found.cases.interest], "#999999"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=sub[x],
                    y=sub[y],
                    mode="markers",
                    name=label,
                    marker={"color": color, "size": 7},
                )
            )
        if found.boxes and x in found.boxes[0].limits and y in found.boxes[0].limits:
            (x0, x1), (y0, y1) = found.boxes[0].limits[x], found.boxes[0].limits[y]
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"color": "#d62728"})
        fig.update_layout(
            xaxis_title=x,
            yaxis_title=y,
            height=460,
            template="plotly_white",
            title=f"{found.rule}: the configurations and box 1",
        )
        parts.append(pio.to_html(fig, include_plotlyjs=False, full_html=False))  # fmt: skip
    return offline_page(f"discovery: {found.rule}", f"Where {found.rule}",
                        "Scenario discovery by PRIM", "".join(parts))  # fmt: skip
