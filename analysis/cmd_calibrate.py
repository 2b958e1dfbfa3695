"""`scf calibrate`: fit a targets file's free parameters by ABC-SMC, with progress and resume."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from analysis.cluster import start_fork_server
from analysis.errors import user_errors

HELP = """Fit the free parameters of a targets file to the study's figures (ABC-SMC, pyabc).

Each parameter draw runs the fitted targets' scenarios on the same seeds; draws
go to local Dask worker processes (or --scheduler) in batches. Progress:
generation, tolerance, acceptance rate, runs per second, time left. Writes to
--out: abc.db (pyabc's database: run the same command again after an
interruption and it resumes; a larger --budget goes on from where it stopped),
posterior.parquet, calibrated.yaml (posterior medians over the baseline, 90%
ranges beside them), predictive.parquet and calibration.html (prior vs
posterior, correlations, posterior-predictive intervals against the fitted and
held-out figures; opens offline). Same file and seed: the same posterior with
any number of workers. Exit code 2: bad targets file or options.

Example: scf calibrate scenarios/calibration/shanghai_2020.yaml --out
results/calibration --budget 1500 --workers 2
"""


def _progress(budget: int, runs_per_draw: int, population: int):
    """Callbacks printing one line per generation and a live line within it (stderr)."""
    start = time.perf_counter()
    state = {"last": 0.0}

    def on_batch(t: int, accepted: int, evaluated: int) -> None:
        now = time.perf_counter()
        if now - state["last"] < 1.0 or not sys.stderr.isatty():
            return
        state["last"] = now
        sys.stderr.write(f"\r  generation {t}: {accepted}/{population} accepted of {evaluated} "
                         f"draws ({accepted / max(evaluated, 1):.0%})   ")
        sys.stderr.flush()

    def on_generation(gen, draws_per_second: float) -> None:
        elapsed = time.perf_counter() - start
        left = max(budget - gen.total, 0) / draws_per_second if draws_per_second > 0 else 0.0
        eps = "inf (prior)" if gen.epsilon == float("inf") else f"{gen.epsilon:.3g}"
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 70 + "\r")
        sys.stderr.write(
            f"generation {gen.t}: tolerance {eps}, acceptance {gen.accepted / gen.evaluated:.0%} "
            f"({gen.accepted} of {gen.evaluated}), {draws_per_second * runs_per_draw:.2f} runs/s, "
            f"{gen.total:,} of {budget:,} draws used, at most {left / 60:.1f} min left "
            f"({elapsed / 60:.1f} min so far)\n")

    return on_batch, on_generation


def calibrate(
    targets_file: Annotated[Path, typer.Argument(
        metavar="TARGETS.yaml",
        help="targets file, e.g. scenarios/calibration/shanghai_2020.yaml")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the database and "
                                      "outputs (made if absent; resumes if it holds this fit)")],
    budget: Annotated[int | None, typer.Option(
        help="most parameter draws to simulate in all (default: the file's abc.budget)",
        min=1)] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", help="local worker processes (default: one per core; 0: no Dask)",
        min=0)] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="use an existing Dask cluster, e.g. tcp://10.0.0.5:8786")] = None,
    draws: Annotated[int, typer.Option(
        help="posterior draws for the predictive intervals", min=1, max=10_000)] = 40,
    seeds: Annotated[int, typer.Option(
        help="seeds per posterior draw for the predictive intervals", min=1, max=100)] = 2,
) -> None:
    """Fit a targets file's free parameters by ABC-SMC."""
    if workers != 0 and scheduler is None:
        start_fork_server()  # workers import the model while this process reads the targets
    from analysis.calibrate import DrawFailed, open_client
    from analysis.calibrate import calibrate as run_calibration
    from analysis.posterior import finish
    from analysis.targets import load_targets
    from simulation.scenario import ConfigError

    with user_errors():
        targets = load_targets(targets_file)
        if workers is not None and scheduler is not None:
            raise ConfigError("give --workers or --scheduler, not both")
        abc = targets.spec.abc
        total = abc.budget if budget is None else budget
        fitted = targets.of_role("fitted")
        runs_per_draw = len(targets.scenarios_for(fitted)) * abc.seeds_per_draw
        on_batch, on_generation = _progress(total, runs_per_draw, abc.population)
        try:
            with open_client(workers, scheduler) as client:
                run = run_calibration(targets, out, budget=total, client=client,
                                      on_generation=on_generation, on_batch=on_batch)
                if not run.generations:
                    raise ConfigError(f"--budget {total}: no generation finished; give a "
                                      f"larger budget")
                last = run.generations[-1]
                facts = {
                    "targets": str(targets_file), "generations": len(run.generations),
                    "draws": f"{last.total:,}", "final tolerance": f"{last.epsilon:.3g}",
                    "population": abc.population, "seed": abc.seed,
                    "stopped at": run.stopped,
                }  # fmt: skip
                n_runs = draws * seeds * len(targets.scenarios_for(targets.targets))
                sys.stderr.write(f"posterior-predictive: {draws} draws x {seeds} seeds, "
                                 f"{n_runs} runs of every target's scenarios\n")
                outputs = finish(targets, out, n_draws=draws, n_seeds=seeds, client=client,
                                 facts=facts)
        except DrawFailed as exc:
            sys.stderr.write(f"error: {exc}; finished generations are kept in {out}\n")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            sys.stderr.write(f"\ninterrupted: finished generations are kept in {out}; run the "
                             f"same command again to resume\n")
            raise typer.Exit(130) from None
    typer.echo(f"{targets_file}: {len(run.generations)} generations, {last.total:,} draws "
               f"({run.draws_now:,} now, {run.resumed_from} generations resumed) in "
               f"{run.seconds / 60:.1f} min; stopped at {run.stopped}")
    for p in outputs.params:
        flag = "" if p.identified else "   NOT IDENTIFIED (posterior as wide as the prior)"
        typer.echo(f"  {p.path}: median {p.median:.4g}, 90% {p.low:.4g} .. {p.high:.4g} "
                   f"(prior {p.prior_low:g} .. {p.prior_high:g}){flag}")
    for r in outputs.table.itertuples():
        typer.echo(f"  {r.role:8} {r.target}: figure {r.bound}{r.figure:.4g}, model "
                   f"{r.mean:.4g} (95% {r.low95:.4g} .. {r.high95:.4g}) {r.verdict}")
    typer.echo(f"wrote {', '.join(str(f) for f in outputs.files)}")
