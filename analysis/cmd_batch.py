"""`scf batch` and `scf results`: run experiments into a results store, and see what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.cluster import start_fork_server
from analysis.errors import batch_interrupt, user_errors

BATCH_HELP = (
    "Run an experiment (scenarios x sweep points x seeds) on Dask into a results store.\n\n"
    "Each run is stored as it finishes and runs already in the store are skipped, so after an "
    "interruption (Ctrl-C, kill, crash) the same command finishes the rest. A run that raises is "
    "recorded with its error and the batch goes on; a stored run whose file fails its integrity "
    "check is set aside and run again. Exit code 0: every run ok; 1: some runs "
    "failed (see scf results) or were lost by the cluster (still pending); 2: bad input. The "
    "workers and scheduler of a cluster must import simulation and analysis (docs/STORE.md).\n\n"
    "Example: scf batch scenarios/experiments/minimal.yaml --out results/minimal --workers 2"
)

RESULTS_HELP = (
    "Show what a results store holds: experiments, scenarios, seeds, runs ok, failed, damaged "
    "and pending, the errors of failed runs and the damaged files (exit code 1 if any); "
    "optionally export one row per run (docs/STORE.md describes the columns).\n\n"
    "Example: scf results results/minimal --export results/minimal-summaries.csv"
)


def batch(
    experiment: Annotated[
        str, typer.Argument(help="experiment file (YAML), e.g. scenarios/experiments/minimal.yaml")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="results store directory (made if absent)")
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="local worker processes (default: one per core; 0: run here, without Dask)",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="submit to an existing Dask cluster, e.g. tcp://10.0.0.5:8786"),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="run again the runs recorded as failed")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="show a progress bar")
    ] = True,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            help="runs per Dask task, 1 to 10,000 (default: chosen from the runs and workers, "
            "at most 8, down to 1 at the end; changes nothing stored)",
        ),
    ] = None,
) -> None:
    """Run an experiment into a results store."""
    if workers != 0 and scheduler is None:
        start_fork_server()  # the workers import the model while this process reads the plan
    from analysis.batch import run_plan
    from analysis.experiment import load_experiment
    from analysis.store import load_failures

    with batch_interrupt(out), user_errors():
        plan = load_experiment(experiment)
        report = run_plan(
            plan,
            out,
            workers=workers,
            scheduler=scheduler,
            retry_failed=retry_failed,
            progress=progress,
            chunk_size=chunk_size,
        )
    typer.echo(
        f"{plan.name}: {report.planned} runs, {report.ok_total} ok, {report.failed_total} "
        f"failed{f', {report.lost} pending' if report.lost else ''} "
        f"({report.ran} run now {report.where}, {report.already} already stored"
        f"{f', {report.repaired} damaged recomputed' if report.repaired else ''}) "
        f"in {report.seconds:.1f} s -> {out}"
    )
    if report.failed_total:
        failures = load_failures(out, plan.name)
        for error, count in failures.error.value_counts().head(5).items():
            typer.echo(f"failed x{count}: {error}", err=True)
    if report.lost:
        typer.echo(
            f"not run x{report.lost}: the cluster lost them ({report.lost_error}); they are "
            f"still pending: run the same command again",
            err=True,
        )
    if report.failed_total or report.lost:
        raise typer.Exit(1)


def _seed_text(seeds: list[int]) -> str:
    seeds = sorted(seeds)
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds)) if len(seeds) <= 6 else f"{len(seeds)} seeds"


def results(
    store: Annotated[Path, typer.Argument(help="results store directory")],
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="only this experiment")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="write the run summaries to this .csv or .parquet file")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="also decode every page of every run file (checksums); the default check "
            "reads each file whole against its seal",
        ),
    ] = False,
) -> None:
    """Show what a results store holds."""
    from analysis.store import Store, load_summaries
    from simulation.scenario import ConfigError

    with user_errors():
        opened = Store.open(store)
        plan = opened.plan(experiment)
        if export is not None and export.suffix not in (".csv", ".parquet"):
            raise ConfigError(f"--export {export}: must end in .csv or .parquet")
        described = {name: opened.plan_info(name) for name in plan.experiment.unique()}
        scope = set(plan.run_id) if experiment is not None else None
        damaged = {
            **{f"runs/{r}.parquet": why for r, why in opened.damaged_runs(scope, verify).items()},
            **{f"failed/{r}.json": why for r, why in opened.damaged_failures(scope).items()},
        }
        bad_ids = {Path(name).stem for name in damaged}
        plan.loc[plan.run_id.isin(bad_ids), "status"] = "damaged"
        errors = [opened.failure(r)["error"] for r in plan.run_id[plan.status == "failed"]]
    console = Console()
    if not console.is_terminal:  # files and pipes: no need to squeeze into 80 columns
        console.width = 120
    stored, failed = opened.done_ids(), opened.failed_ids()
    planned = set(plan.run_id)
    console.print(
        f"[bold]{store}[/]: {len(stored)} runs stored, {len(failed)} failed"
        + (
            f", {len(stored | failed) - len(planned & (stored | failed))} not in any "
            f"experiment's current plan"
            if experiment is None
            else ""
        )
        + (f", [red]{len(damaged)} damaged[/]" if damaged else "")
    )
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("experiment", "scenario"):
        widest = max([len(column), *map(len, plan[column].astype(str))])
        table.add_column(column, overflow="fold", min_width=min(widest, 30))
    for column in ("points", "seeds", "months", "runs", "ok", "failed", "damaged", "pending"):
        table.add_column(column, justify="right", min_width=len(column))
    for (name, scenario), rows in plan.groupby(["experiment", "scenario"], sort=False):
        counts = rows.drop_duplicates("run_id").status.value_counts()
        table.add_row(
            name,
            scenario,
            str(rows.point.nunique()),
            _seed_text(list(rows.seed.unique())),
            ",".join(map(str, sorted(rows.months.unique()))),
            str(rows.run_id.nunique()),
            *(str(counts.get(k, 0)) for k in ("ok", "failed", "damaged", "pending")),
        )
    console.print(table)
    for name in plan.experiment.unique():
        if described[name]["description"]:
            console.print(f"{name}: {described[name]['description']}")
    for error, count in _counts(errors)[:10]:
        console.print(f"[red]failed x{count}[/]: {escape(error)}", highlight=False)
    for name, why in list(damaged.items())[:10]:
        console.print(f"[red]damaged[/]: {name} ({escape(why)})", highlight=False)
    if damaged:
        console.print(
            f"{len(damaged)} damaged file(s): run the experiment's `scf batch ... --out {store}` "
            f"again to set them aside (in damaged/) and recompute them",
            highlight=False,
        )
    if export is not None:
        with user_errors():
            summaries = load_summaries(store, experiment)
        if export.suffix == ".csv":
            summaries.to_csv(export, index=False)
        else:
            summaries.to_parquet(export, index=False)
        console.print(f"wrote {len(summaries)} run summaries to {export}")
    if damaged:
        raise typer.Exit(1)


def _counts(values: list[str]) -> list[tuple[str, int]]:
    """Distinct values with their counts, most frequent first (ties in first-seen order)."""
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])
