"""`scf optimize`: search lever mixes for the best trade-offs, resumably, and check the front."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from analysis.cluster import start_fork_server
from analysis.errors import batch_interrupt, user_errors

HELP = """Search lever mixes with optuna (NSGA-II or TPE) for the best trade-offs.

SPEC.yaml names a base scenario, the levers and their ranges, one to three
objectives, constraints and the paired seeds each trial runs on (see
docs/POLICY_DESIGN.md). Every trial is the mean over those seeds (common random
numbers), run through the same workers as scf batch. The study lives in
DIR/study.db and its runs in the store DIR/runs: interrupt it and run the same
command again to continue. Writes DIR/trials.parquet, DIR/front.parquet (the
Pareto front, re-evaluated on fresh seeds with 95% intervals),
DIR/points/trial-N.yaml (each point, reproducible with scf run) and
DIR/front.html (opens offline). Exit code 2: a bad spec (one line naming the
field); 1: no trial met the constraints.

Example: scf optimize scenarios/optimize/cheapest_tier2.yaml --out results/opt
"""


def optimize(
    spec: Annotated[Path, typer.Argument(help="optimisation spec (YAML)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="study directory (resumable)")],
    trials: Annotated[
        int | None, typer.Option(help="finish this many trials in all (default: the spec's)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="local processes (0: no Dask)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:PORT) of a cluster")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    json_: Annotated[bool, typer.Option("--json", help="print the front as JSON")] = False,
) -> None:
    """Search lever mixes for the best trade-offs."""
    if workers != 0 and scheduler is None:
        start_fork_server()  # the workers import the model while this process reads the spec
    from analysis import pareto
    from analysis.evaluate import EvaluationError, Evaluator
    from analysis.optimize import RUNS_DIR, load_problem, open_study, prepare, search
    from analysis.report import write
    from simulation.scenario import ConfigError

    with user_errors():
        problem = load_problem(spec)
        if trials is not None:
            if trials < 1:
                raise ConfigError(f"--trials: must be >= 1 (got {trials})")
            problem.trials = trials
        Evaluator(workers=workers, scheduler=scheduler)  # checks the options before any file
        resumed = prepare(problem, out)
    err = Console(stderr=True)
    if resumed:
        err.print(f"resuming the study in {out}")
    with (
        user_errors(),
        batch_interrupt(out),
        Evaluator(out / RUNS_DIR, workers=workers, scheduler=scheduler) as ev,
    ):
        try:
            report = _search(problem, out, ev, progress, err, search)
            study = open_study(problem, out, create=False)
            trials_df = pareto.trials_frame(study, problem)
            front = pareto.pareto_front(trials_df, problem)
            checked = pareto.recheck(front, problem, ev)
        except EvaluationError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(1) from None
    trials_df.to_parquet(out / "trials.parquet", index=False)
    merged = front.merge(checked, on="trial", suffixes=("", "_fresh")) if len(front) else front
    merged.to_parquet(out / "front.parquet", index=False)
    points = pareto.export_points(front, problem, out)
    write(out / "front.html", pareto.page(trials_df, front, checked, problem))
    err.print(
        f"{problem.name}: {report.finished} trials ({report.ran_now} now, "
        f"{report.runs_computed} runs computed {report.where}); front: {len(front)} points -> "
        f"{out}/front.parquet, front.html, {len(points)} files in {out}/points"
    )
    if json_:
        sys.stdout.write(json.dumps(_json(merged), indent=2, allow_nan=False) + "\n")
    else:
        from analysis.cmd_compare import _console

        _print_front(problem, front, checked, _console())
    if front.empty:
        err.print("no trial met the constraints: widen the ranges, relax them, or add trials")
        raise typer.Exit(1)


def _search(problem, out, ev, progress, err, search):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        console=err, disable=not progress,
    )  # fmt: skip
    with bar:
        tid = bar.add_task(f"{problem.name} trials", total=problem.trials)

        def tick(done: int, total: int) -> None:
            bar.update(tid, completed=done)

        return search(problem, out, ev, tick)


def _json(frame) -> list[dict]:
    records = frame.to_dict(orient="records")
    return [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in records
    ]


def _print_front(problem, front, checked, console: Console, most: int = 5) -> None:
    metrics = list(dict.fromkeys(
        [m for m, _ in problem.objectives] + [c.metric for c in problem.constraints]
    ))  # fmt: skip
    table = Table(
        title=f"Pareto front of {problem.name} ({len(front)} points): mean over the trial's "
        f"{len(problem.seeds)} seeds | mean [95% CI] on {len(problem.recheck_seeds)} fresh seeds",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("trial", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("constraints on fresh seeds", justify="right")
    by = checked.set_index("trial") if not checked.empty else None
    for _, r in front.iterrows():
        c = by.loc[int(r.trial)]
        cells = [str(int(r.trial))]
        for m in metrics:
            cells.append(f"{_num(r[m])} | {_num(c[m])} [{_num(c[f'{m}_low'])}, "
                         f"{_num(c[f'{m}_high'])}]")  # fmt: skip
        cells.append(
            "[green]hold[/]" if c.sure else "hold by the mean only" if c.holds else "[red]fail[/]"
        )
        table.add_row(*cells)
    console.print(table)
    for _, r in front.head(most).iterrows():
        c = by.loc[int(r.trial)]
        levers = ", ".join(f"{lv.path}={_value(r[lv.path])}" for lv in problem.levers)
        cost = c["public_cost_effect"], c["public_cost_effect_low"], c["public_cost_effect_high"]
        console.print(
            f"trial {int(r.trial)}: {levers}; extra public cost over {problem.scenario} "
            f"{cost[0]:+,.0f} [{cost[1]:+,.0f}, {cost[2]:+,.0f}] (10k CNY, fresh seeds, paired) "
            f"-> points/trial-{int(r.trial)}.yaml"
        )


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
