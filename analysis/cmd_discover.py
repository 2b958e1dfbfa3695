"""`scf discover`: the parameter boxes of a sweep store where a metric meets a threshold."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box as rich_box
from rich.table import Table

from analysis.errors import user_errors

HELP = """Find the boxes of parameter ranges where METRIC meets a threshold (PRIM).

Reads a results store (typically a Latin-hypercube sweep run by scf batch):
each configuration's mean of --metric over its seeds, against the parameters
that vary between configurations. Prints each box's limits, its coverage (the
share of the configurations meeting the threshold that lie inside) and its
density (the share of those inside that meet it). --report writes an offline
HTML page; --save writes each box as a scenario file (its centre) that scf run
and the dashboard load. Exit code 2: bad input (one line).

Example: scf discover results/lhs --metric tier2.credit_access_rate
--threshold 0.3 --report results/lhs/discover.html
"""


def discover(
    store: Annotated[Path, typer.Argument(help="results store (from scf batch)")],
    metric: Annotated[str, typer.Option(help="summary metric, e.g. tier2.credit_access_rate")],
    threshold: Annotated[float, typer.Option(help="the level the metric must reach")],
    below: Annotated[
        bool, typer.Option("--below", help="cases of interest have metric <= threshold")
    ] = False,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="only this experiment's runs")
    ] = None,
    boxes: Annotated[int, typer.Option(help="most boxes to find, one after the other")] = 3,
    peel_alpha: Annotated[float, typer.Option(help="share of cases peeled per step")] = 0.05,
    mass_min: Annotated[float, typer.Option(help="smallest box, as a share of cases")] = 0.05,
    report: Annotated[Path | None, typer.Option(help="write an offline HTML page")] = None,
    save: Annotated[
        Path | None, typer.Option(help="folder for box-K.yaml scenario files (box centres)")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the boxes as JSON")] = False,
) -> None:
    """Find where a metric meets a threshold."""
    from analysis.discover import box_scenarios, discover_store, page
    from analysis.report import write
    from simulation.scenario import ConfigError

    with user_errors():
        if report is not None and report.suffix.lower() not in (".html", ".htm"):
            raise ConfigError(f"--report {report}: must end in .html")
        found = discover_store(
            store, metric, threshold, experiment=experiment, below=below, boxes=boxes,
            peel_alpha=peel_alpha, mass_min=mass_min,
        )  # fmt: skip
    if json_:
        sys.stdout.write(json.dumps(found.to_json(), indent=2) + "\n")
    else:
        _print(found)
    if report is not None:
        write(report, page(found))
        typer.echo(f"wrote {report} (opens offline)", err=True)
    if save is not None:
        paths = box_scenarios(found, store, save)
        typer.echo(f"wrote {len(paths)} box scenario files to {save}", err=True)


def _print(found) -> None:
    from analysis.cmd_compare import _console

    console = _console()
    console.print(
        f"{found.store}: {len(found.cases)} configurations, {int(found.cases.interest.sum())} "
        f"with {found.rule}; parameters that vary: {', '.join(found.inputs)}"
    )
    for k, b in enumerate(found.boxes, start=1):
        table = Table(
            title=f"box {k}: coverage {b.coverage:.0%}, density {b.density:.0%}, "
            f"{b.cases} configurations ({b.mass:.0%} of all)",
            box=rich_box.SIMPLE_HEAD,
        )
        for column in ("parameter", "from", "to", "range in the store"):
            table.add_column(column, justify="left" if column == "parameter" else "right")
        for p, (lo, hi) in b.limits.items():
            r = b.ranges[p]
            table.add_row(p, f"{lo:g}", f"{hi:g}", f"{r[0]:g} .. {r[1]:g}")
        if not b.limits:
            table.add_row("(no restriction)", "", "", "")
        console.print(table)
