"""`scf run`: one simulation, a table of headline results, and its files on disk."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from analysis.errors import user_errors
from analysis.outputs import check_output_dir, run_bytes, write_errors

HELP = """Run one simulation of SCENARIO (a file or a library name) and write its results.

Writes OUT/monthly.parquet (tidy: month, group, one column per metric), OUT/summary.json and
OUT/scenario.yaml (the fully resolved configuration). Money in 10,000 CNY, rates annual.

Example: scf run baselines/core_led --seed 1 --months 24 --set core.data_sharing=0.8 --out out/r1
"""

HEADLINES = (
    ("credit_access_rate", "credit access (share of SMEs in need fully funded)", "{:.1%}"),
    ("funded_share", "funded / needed volume", "{:.1%}"),
    ("financing_gap", "financing gap (10k CNY)", "{:,.0f}"),
    ("avg_cost_of_funds", "all-in cost of funds (annual)", "{:.2%}"),
    ("lost_output", "lost output (10k CNY)", "{:,.0f}"),
    ("sme_defaults", "SME defaults", "{:,.0f}"),
)


def _fmt(fmt: str, v: object) -> str:
    return "n/a" if v is None else fmt.format(v)


def run(
    scenario: Annotated[
        str, typer.Argument(help="scenario file or library name, e.g. baselines/core_led")
    ],
    seed: Annotated[int, typer.Option(help="random seed (same seed, same numbers)", min=0)] = 0,
    months: Annotated[
        int | None,
        typer.Option(help="months to simulate (default: the scenario's `months`)", min=1, max=600),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="override a parameter, PATH=VALUE, e.g. core.data_sharing=0.8; repeatable"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="directory for monthly.parquet, summary.json, scenario.yaml")
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="print the summary as JSON instead of the table")
    ] = False,
) -> None:
    from simulation.metrics import ROLE_GROUPS  # the model loads only when a run is asked for
    from simulation.runner import run_one
    from simulation.scenario import load_scenario, parse_overrides

    with user_errors():
        cfg = load_scenario(scenario, parse_overrides(set_))
        if out is not None:  # before the run: a bad --out must not cost its time
            check_output_dir(out, run_bytes(months or cfg.months))
    result = run_one(cfg, seed, months)
    if out is not None:
        with user_errors(), write_errors(out, "nothing was written there"):
            write_run(result, out)
    if json_:
        sys.stdout.write(json.dumps(result.summary, indent=2) + "\n")
        return
    console = Console()
    table = Table(title=f"{scenario}  seed {seed}  {result.months} months  (money in 10k CNY)")
    table.add_column("indicator")
    for g in ("all", *ROLE_GROUPS):
        table.add_column("all SMEs" if g == "all" else g, justify="right")
    s = result.summary
    for key, label, fmt in HEADLINES:
        table.add_row(
            label, _fmt(fmt, s[key]), *(_fmt(fmt, s["by_group"][g][key]) for g in ROLE_GROUPS)
        )
    console.print(table)
    console.print(_instrument_table(s))
    console.print(
        f"guarantor leverage {s['guarantor_leverage']:.2f}x, payout rate "
        f"{s['guarantee_payout_rate']:.2%} (floor: {s['guarantor_binding'].replace('_', ' ')}), "
        f"bank NPL {s['bank_npl_ratio']:.2%}, "
        f"public cost {s['public_cost']:,.0f}, ledger residual "
        f"{s['ledger_residual']:.2e}"
    )
    if out is not None:
        console.print(f"wrote {out}/monthly.parquet, summary.json, scenario.yaml")


def _instrument_table(s: dict) -> Table:
    """Credit by instrument over the run, all SMEs: volume, share and all-in annual rate."""
    vol, rate = s["volume_by_instrument"], s["rate_by_instrument"]
    total = sum(vol.values())
    table = Table(title="credit by instrument, all SMEs")
    for col in ("instrument", "volume (10k CNY)", "share", "all-in rate"):
        table.add_column(col, justify="left" if col == "instrument" else "right")
    for k, v in vol.items():
        share = v / total if total > 0 else None
        table.add_row(
            k.replace("_", " "), f"{v:,.0f}", _fmt("{:.1%}", share), _fmt("{:.2%}", rate[k])
        )
    return table


def write_run(result, out: Path) -> None:
    """Write the three files atomically: a half-written directory is never left behind."""
    from simulation.scenario import to_yaml

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result.monthly.to_parquet(tmp / "monthly.parquet", index=False)
        (tmp / "summary.json").write_text(
            json.dumps({"seed": result.seed, "months": result.months, **result.summary}, indent=2)
            + "\n"
        )
        (tmp / "scenario.yaml").write_text(to_yaml(result.config))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
