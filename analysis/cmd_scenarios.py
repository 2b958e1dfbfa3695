"""`scf scenarios list|show`, `scf validate`, `scf replicate`: the scenario library's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.errors import user_errors

SCENARIOS_HELP = """The scenario library: baselines, levers, pilot chains and policy packages.

Example: scf scenarios list
"""

LIST_HELP = """List every library scenario: name, chain type and what it is.

Names work wherever a scenario is expected (scf run, scf compare, scf scenarios show).

Example: scf scenarios list
"""

SHOW_HELP = """Print the fully resolved configuration of NAME as YAML (its `base:` chain applied).

The output is a complete scenario file that `scf run` accepts back.

Example: scf scenarios show levers/guarantee_fee --set population.n_smes=5000
"""

VALIDATE_HELP = """Check scenario files: YAML syntax, fields, ranges and `base:` composition.

Exit 0 when every file is valid; else exit 2 with one line per problem naming the file, the
field, the allowed range and the value given.

Example: scf validate scenarios/levers/*.yaml my_policy.yaml
"""

REPLICATE_HELP = """Set the model against the study's figures: the pre-policy state vs the package.

Runs packages/pre_policy and packages/policy_package over the same seeds and prints, for each
figure the study reports, the model's mean with its 95% interval over seeds, and whether the
figure was used for calibration, held out, is an input, or is not modelled (see
docs/CALIBRATION.md). Money in 10,000 CNY.

With --posterior DIR (from scf calibrate) each figure's interval is posterior-predictive:
the central 95% of its values over posterior draws x seeds, not over seeds alone.

Example: scf replicate --seeds 20
Example: scf replicate --posterior results/calibration --draws 20 --seeds 2
"""

scenarios_app = typer.Typer(help=SCENARIOS_HELP, no_args_is_help=True, add_completion=False)


@scenarios_app.command("list", help=LIST_HELP)
def list_() -> None:
    from analysis import library

    table = Table(title="scenario library (scenarios/)")
    for col in ("name", "chain type", "description"):
        table.add_column(col)
    for e in library.entries():
        desc = e.description if e.problem is None else f"INVALID: {e.problem}"
        table.add_row(e.name, e.chain_type, escape(desc))
    Console().print(table)


@scenarios_app.command("show", help=SHOW_HELP)
def show(
    name: Annotated[str, typer.Argument(help="library name or file, e.g. levers/guarantee_fee")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a parameter, PATH=VALUE; repeatable")
    ] = None,
) -> None:
    from analysis import library
    from simulation.scenario import parse_overrides

    with user_errors():
        text = library.show(name, parse_overrides(set_))
    sys.stdout.write(text)


def validate(
    files: Annotated[list[str], typer.Argument(help="scenario files (or library names)")],
) -> None:
    from analysis import library

    bad = 0
    for f in files:
        found = library.problems(f)
        for line in found:
            sys.stderr.write(f"error: {line}\n")
        if found:
            bad += 1
        else:
            sys.stdout.write(f"{f}: ok\n")
    if bad:
        raise typer.Exit(2)


def replicate(
    seeds: Annotated[
        int,
        typer.Option(help="seeds per scenario (paired: the same seeds for both)", min=2, max=1000),
    ] = 10,
    months: Annotated[
        int | None,
        typer.Option(help="months per run (default: the scenarios' `months`)", min=12, max=600),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    posterior: Annotated[Path | None, typer.Option(
        help="a calibration's --out directory: intervals over its posterior draws and seeds")
    ] = None,
    draws: Annotated[int, typer.Option(help="posterior draws (with --posterior)", min=2,
                                       max=1000)] = 20,
    year: Annotated[bool, typer.Option(
        "--year/--no-year", help="also split the year 2020's changes (packages/shanghai_2020) "
        "into the model's drift, the macro conditions and the package")] = True,
) -> None:
    from analysis.replicate import PACKAGE, PRE, as_records, fmt
    from analysis.replicate import replicate as run_replicate
    from analysis.year2020 import decompose_year, year_records

    if posterior is None:
        rows, runs = run_replicate(seeds, months)
        spread = "95% interval: t-interval of the mean over seeds"
    else:
        from analysis.posterior import replicate_posterior

        with user_errors():
            rows, runs = replicate_posterior(posterior, draws, seeds, months)
        spread = (f"95% interval: posterior-predictive, the central 95% of the values over "
                  f"{draws} posterior draws x {seeds} seeds ({posterior})")
    year_parts = decompose_year(seeds) if year else []
    if json_:
        out = {"figures": as_records(rows), "year_2020": year_records(year_parts)}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    first = runs.pre[0]
    table = Table(
        title=f"study figures vs model: {PRE} vs {PACKAGE}, "
        f"{seeds} paired seeds{f' x {draws} posterior draws' if posterior else ''}, "
        f"{first.months} months, "
        f"{first.config.population.n_smes:,} SMEs"
    )
    for col, just in (
        ("figure", "left"),
        ("study", "right"),
        ("model", "right"),
        ("95% interval", "right"),
        ("status", "left"),
        ("check", "left"),
    ):
        table.add_column(col, justify=just)
    for r in rows:
        f = r.figure
        model = r.text or fmt(r.mean, f.unit)
        ci = "" if r.low is None else f"{fmt(r.low, f.unit)} .. {fmt(r.high, f.unit)}"
        table.add_row(f.label, f.study, model, ci, f.status, r.check)
    console = Console()
    console.print(table)
    for r in rows:
        console.print(f"- {r.figure.label}: {escape(r.figure.note)}")
    console.print(
        f"{spread}. Calibrated figures set a "
        "parameter (agreement by construction); held-out ones were never used to "
        "set anything. Money in 10,000 CNY."
    )
    bindings = [r.summary.get("guarantor_binding") for r in runs.package]
    console.print(
        "what keeps the package's guarantor below its leverage floor, by seed: "
        + ", ".join(f"{b} ({bindings.count(b)})" for b in dict.fromkeys(bindings))
        + " (none: at or above the floor; demand: too few firms want a guarantee at the price;"
        " bank_appetite: banks refuse what it would guarantee; tolerance: payouts; ceiling)"
    )
    if year_parts:
        console.print(_year_table(year_parts, seeds, fmt))


def _year_table(parts: list, seeds: int, fmt) -> Table:
    """The year 2020's changes: the study's, the model's, and the model's split."""
    from analysis.year2020 import GROUPS, SCENARIO

    table = Table(
        title=f"the year 2020 ({SCENARIO}, end of 2020 vs end of 2019, {seeds} seeds): "
        "drift + macro + package = model total, each mean [95% interval]"
    )
    for col in ("figure", "study", "model total", "drift", *GROUPS, "package share"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for f, ps in parts:
        cells = []
        for p in ps:
            m, lo, hi = p.interval
            cells.append(f"{fmt(m, f.unit)} [{fmt(lo, f.unit)} .. {fmt(hi, f.unit)}]")
        total, package = ps[0].values.mean(), ps[-1].values.mean()
        share = f"{package / total:.0%}" if total else "-"
        table.add_row(f.label, f.study, *cells, share)
    return table


def register(app: typer.Typer) -> None:
    """Add the library's commands to the `scf` app."""
    app.add_typer(scenarios_app, name="scenarios", help=SCENARIOS_HELP)
    app.command("validate", help=VALIDATE_HELP)(validate)
    app.command("replicate", help=REPLICATE_HELP)(replicate)
