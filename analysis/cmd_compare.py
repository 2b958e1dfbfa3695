"""`scf compare` and `scf sensitivity`: paired policy effects, value for money, sensitivity."""

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

COMPARE_HELP = """Compare policies with a baseline in a results store, paired by seed.

For every metric and SME group (all, tier 1, tier 2, distributors): the mean
of policy minus baseline over the seeds both ran (common random numbers), its
95% t-interval, the relative change, and how much wider the interval would be
without pairing; then value for money: extra SME credit and lost output
avoided per unit of extra public cost, ranked. --report writes one HTML file
(plotly embedded, opens offline), with a sensitivity study from the store if
there is one. Money in 10k CNY. Exit code 2: bad input, e.g. a scenario not
in the store (the error lists those available).

--decompose splits each policy's effect into its levers (the settings where it
differs from the baseline, grouped by the library's lever files) by Shapley
values over lever subsets on the paired seeds, with 95% intervals and the
share due to interactions; exact up to 8 levers, sampled beyond. Its runs go
through the batch runner's workers and are kept in the store.

Example: scf compare results/main --baseline baselines/core_led
--policy 'levers/*' --report results/main/levers.html

Example: scf compare results/main -b packages/pre_policy
-p packages/policy_package --decompose --seeds 4

With --posterior DIR (from scf calibrate) baseline and policies are run again
over posterior draws x seeds (kept in the store) and each key difference gets
an interval over parameter draws and seeds beside the one over seeds alone.

Example: scf compare results/main -b packages/pre_policy
-p packages/policy_package --posterior results/calibration --draws 20 --seeds 2
"""

SENSITIVITY_HELP = """Rank which parameters move credit access most (SALib Morris or Sobol').

Samples the parameters over their schema ranges (or PATH=LOW:HIGH), runs each
point over the same seeds through the batch runner into the store --out
(resumable, like scf batch), and ranks the parameters for each SME group.
Integer parameters are rounded; true/false ones cannot be varied (compare
their two settings instead). Points: Morris (k+1) x samples, Sobol' (k+2) x
samples; runs: points x seeds.

Example: scf sensitivity baselines/core_led --params
core.data_sharing,core.confirm_willingness,guarantor.per_firm_cap
--set population.n_smes=500 --months 24 --out results/sens
--report results/sens/report.html
"""

KEY_ROWS = (
    "credit_access_rate", "funded_share", "total_credit", "financing_gap", "avg_cost_of_funds",
    "avg_loan_rate", "loan_balance", "borrowers", "lost_output", "sme_defaults", "public_cost",
    "guarantor_leverage", "guarantee_payout_rate",
)  # fmt: skip


def _console() -> Console:
    console = Console()
    if not console.is_terminal:  # files and pipes: no need to squeeze into 80 columns
        console.width = 140
    return console


DETAILED = 2  # up to this many policies get a table each; more get one overview table


def _print_overview(comparison, console: Console) -> None:
    from analysis.labels import GROUP_LABELS, fmt_value

    table = Table(
        title=f"policies minus {comparison.baseline}: credit access by group in pp (mean +/- "
        f"95% CI), lost output and public cost in 10k CNY; --json or --report: every metric",
        box=box.SIMPLE_HEAD,
    )
    width = max(len(p) for p in comparison.policies)
    table.add_column("policy", no_wrap=True, min_width=min(width, 40))
    table.add_column("seeds", justify="right")
    groups = list(GROUP_LABELS)[:4]  # all SMEs and the roles; one policy's table has them all
    for group in groups:
        table.add_column(GROUP_LABELS[group], justify="right", no_wrap=True)
    table.add_column("lost output", justify="right")
    table.add_column("public cost", justify="right")
    for policy in comparison.policies:
        cells = []
        for group in groups:
            r = comparison.get(policy, "credit_access_rate", group)
            cells.append(f"{r['diff_mean'] * 100:+.2f} +/- {r['paired_halfwidth'] * 100:.2f}")
        money = [
            fmt_value(m, comparison.get(policy, m)["diff_mean"], True)
            for m in ("lost_output", "public_cost")
        ]
        flag = " [red](other firms)[/]" if comparison.pairings[policy].population_differs else ""
        seeds = str(len(comparison.pairings[policy].seeds))
        table.add_row(policy + flag, seeds, *cells, *money)
    console.print(table)


def _print_comparison(comparison, console: Console) -> None:
    from analysis.labels import GROUP_LABELS, LABEL, fmt_ci, fmt_value, fmt_width

    if len(comparison.policies) > DETAILED:
        _print_overview(comparison, console)
    for policy in comparison.policies if len(comparison.policies) <= DETAILED else []:
        p = comparison.pairings[policy]
        table = Table(
            title=f"{policy} minus {comparison.baseline}: {len(p.seeds)} paired seeds, "
            f"{p.months} months (money in 10k CNY)",
            box=box.SIMPLE_HEAD,
        )
        for column in ("indicator", "group", "baseline", "policy", "difference", "95% CI"):
            table.add_column(
                column, justify="left" if column in ("indicator", "group") else "right"
            )
        table.add_column("relative", justify="right")
        table.add_column("CI +/- paired | unpaired", justify="right")
        rows = [(m, "all") for m in KEY_ROWS] + [
            ("credit_access_rate", g) for g in list(GROUP_LABELS)[1:]
        ]
        for metric, group in rows:
            try:
                r = comparison.get(policy, metric, group)
            except KeyError:
                continue
            rel = f"{r['rel_change']:+.1%}" if math.isfinite(r["rel_change"]) else "n/a"
            table.add_row(
                LABEL.get(metric, metric),
                GROUP_LABELS[group],
                fmt_value(metric, r["baseline_mean"]),
                fmt_value(metric, r["policy_mean"]),
                fmt_value(metric, r["diff_mean"], True),
                fmt_ci(metric, r),
                rel,
                f"{fmt_width(metric, r['paired_halfwidth'])} | "
                f"{fmt_width(metric, r['unpaired_halfwidth'])}",
            )
        console.print(table)
        if p.population_differs:
            console.print(f"[red]not the same firms[/]: {', '.join(p.population_differs)} differ")
        if p.unpaired_seeds:
            console.print(f"seeds run on one side only (left out): {p.unpaired_seeds}")
    vfm = comparison.value_for_money()
    table = Table(
        title=f"value for money, ranked by {comparison.rank_by.replace('_', ' ')} per unit of "
        f"extra public cost (totals over the run, 10k CNY)",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("rank", justify="right")
    table.add_column("policy", no_wrap=True)
    for column in ("extra credit", "gap closed", "lost output avoided", "extra public cost"):
        table.add_column(column, justify="right")
    table.add_column("per unit cost: credit | gap | output", justify="right", no_wrap=True)
    table.add_column("largest extra costs", justify="left")
    for r in vfm.to_dict(orient="records"):
        ratio = (
            " | ".join(f"{r[f'{k}_per_public_cost']:,.1f}" for k in ("credit", "gap", "output"))
            if math.isfinite(r["output_per_public_cost"])
            else "no extra public cost"
        )
        table.add_row(
            str(r["rank"]),
            r["policy"],
            *(f"{r[k]:+,.0f}" for k in ("extra_credit", "gap_closed", "lost_output_avoided")),
            f"{r['public_cost']:+,.0f}",
            ratio,
            _cost_items(r),
        )
    console.print(table)
    narrowing = comparison.narrowing()
    if math.isfinite(narrowing):
        console.print(
            f"pairing by seed narrows the 95% intervals by a median of {narrowing:.0%} "
            f"(over all metrics and groups) against unpaired runs"
        )


def _decompose(results, comparison, metrics, experiment, seeds, max_exact, workers, scheduler):
    from analysis.decompose import DEFAULT_METRICS, decompose_store
    from analysis.evaluate import EvaluationError, Evaluator

    if workers != 0 and scheduler is None:
        start_fork_server()
    out = {}
    with Evaluator(results, workers=workers, scheduler=scheduler) as ev:
        for policy in comparison.policies:
            try:
                out[policy] = decompose_store(
                    results, comparison.baseline, policy, metrics=metrics or DEFAULT_METRICS,
                    experiment=experiment, seeds=seeds, max_exact=max_exact, evaluator=ev,
                )  # fmt: skip
            except EvaluationError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
    return out


def _posterior(results, comparison, posterior, draws, seeds, workers, scheduler):
    from analysis.evaluate import EvaluationError, Evaluator
    from analysis.posterior import compare_posterior

    if workers != 0 and scheduler is None:
        start_fork_server()
    with Evaluator(results, workers=workers, scheduler=scheduler) as ev:
        try:
            return compare_posterior(results, comparison, posterior, draws, seeds, ev, KEY_ROWS)
        except EvaluationError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


def _print_posterior(frame, posterior, console: Console) -> None:
    from analysis.labels import LABEL, fmt_value

    for policy, rows in frame.groupby("policy", sort=False):
        first = rows.iloc[0]
        table = Table(
            title=f"{policy} minus baseline over {first.draws} posterior draws ({posterior}) x "
            f"{first.seeds} seeds: 95% intervals over draws and seeds vs over seeds alone",
            box=box.SIMPLE_HEAD,
        )
        for column in ("indicator", "difference", "95% draws x seeds", "95% seeds only"):
            table.add_column(column, justify="left" if column == "indicator" else "right")
        for r in rows.itertuples():
            table.add_row(
                LABEL.get(r.metric, r.metric),
                fmt_value(r.metric, r.diff_mean, True),
                f"{fmt_value(r.metric, r.predictive_low, True)} .. "
                f"{fmt_value(r.metric, r.predictive_high, True)}",
                f"{fmt_value(r.metric, r.seeds_only_low, True)} .. "
                f"{fmt_value(r.metric, r.seeds_only_high, True)}",
            )
        console.print(table)


def _print_decomposition(policy, baseline, players, result, console: Console) -> None:
    from analysis.labels import fmt_value

    how = "exact" if result.exact else f"sampled, {result.orders} join orders a seed"
    totals = result.totals.set_index("metric")
    for metric in result.metrics:
        t, unit = totals.loc[metric], metric.split(".")[-1]  # tier2.x formats as x
        table = Table(
            title=f"{policy} minus {baseline}, split by lever: Shapley values of {metric} "
            f"({how}; {len(result.seeds)} paired seeds, {result.runs} runs)",
            box=box.SIMPLE_HEAD,
        )
        for column in ("lever", "settings", "Shapley value", "95% CI", "share", "alone"):
            table.add_column(column, justify="left" if column in ("lever", "settings") else "right")
        rows = result.table[result.table.metric == metric]
        for r in rows.itertuples():
            settings = ", ".join(f"{k}={v}" for k, v in players[r.player].items())
            share = f"{r.share:.0%}" if math.isfinite(r.share) else "n/a"
            table.add_row(
                r.player, settings, fmt_value(unit, r.value, True),
                f"{fmt_value(unit, r.ci_low, True)} .. {fmt_value(unit, r.ci_high, True)}",
                share, fmt_value(unit, r.solo, True),
            )  # fmt: skip
        console.print(table)
        inter = f"{t.interaction_share:.0%}" if math.isfinite(t.interaction_share) else "n/a"
        console.print(
            f"total effect {fmt_value(unit, t.total, True)} ("
            f"{fmt_value(unit, t.ci_low, True)} .. {fmt_value(unit, t.ci_high, True)}), "
            f"equal to the sum of the values; interactions (total minus the levers alone): "
            f"{fmt_value(unit, t.interaction, True)}, {inter} of the total"
        )


def _cost_items(row: dict, most: int = 2) -> str:
    """The largest items of a policy's extra public cost: `arrears +930, gov_data +21`."""
    from simulation.costs import SUMMARY_KEYS

    items = [(k.removeprefix("public_cost_"), row.get(k, math.nan)) for k in SUMMARY_KEYS]
    items = sorted((i for i in items if math.isfinite(i[1]) and abs(i[1]) >= 0.5),
                   key=lambda i: -abs(i[1]))  # fmt: skip
    return ", ".join(f"{k} {v:+,.0f}" for k, v in items[:most]) or "-"


def _pick_sensitivity(results: Path, name: str | None, baseline: str):
    """The named study, else one on the baseline's scenario (the last by name), else None."""
    from analysis.sensitivity import load_result, studies
    from simulation.scenario import ConfigError

    if name is not None:
        return load_result(results, name)
    same = [n for n, s in studies(results).items() if s.scenario == baseline]
    if not same:
        return None
    try:
        return load_result(results, same[-1])
    except ConfigError as exc:  # an unfinished study leaves the report without it
        typer.echo(f"note: sensitivity left out of the report ({exc})", err=True)
        return None


def compare(
    results: Annotated[Path, typer.Argument(help="results store directory (from scf batch)")],
    baseline: Annotated[
        str, typer.Option("--baseline", "-b", help="baseline scenario name in the store")
    ],
    policy: Annotated[
        list[str],
        typer.Option(
            "--policy",
            "-p",
            help="policy scenario name, or a pattern such as 'levers/*'; repeatable",
        ),
    ],
    report: Annotated[
        Path | None, typer.Option(help="write a self-contained HTML report to this file")
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="print the comparison as JSON instead of tables")
    ] = False,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            "-e",
            help="only runs of this experiment (when a name has runs in several)",
        ),
    ] = None,  # fmt: skip
    sensitivity: Annotated[
        str | None,
        typer.Option(
            help="sensitivity study in the store to add to the report (default: one "
            "on the baseline's scenario, if any)"
        ),
    ] = None,  # fmt: skip
    confidence: Annotated[float, typer.Option(help="confidence level of the intervals")] = 0.95,
    rank_by: Annotated[
        str,
        typer.Option(
            help="rank value for money by output (lost output avoided), gap "
            "(financing gap closed) or credit (extra credit), per unit public cost"
        ),
    ] = "output",  # fmt: skip
    decompose: Annotated[
        bool, typer.Option("--decompose", help="split each policy's effect into its levers")
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            help="metric to decompose (repeatable; default: access, tier-2 access, "
            "lost output, public cost)"
        ),
    ] = None,  # fmt: skip
    seeds: Annotated[
        int | None,
        typer.Option(help="decompose (or --posterior) on the first N shared seeds (default: all)"),
    ] = None,
    max_exact: Annotated[int, typer.Option(help="exact Shapley values up to this many levers")] = 8,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="local processes (0: no Dask)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:PORT) of a cluster")
    ] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            help="a calibration's --out directory: also run baseline and policies "
            "over its posterior draws (on the first --seeds shared seeds) and give "
            "intervals over draws and seeds"
        ),
    ] = None,
    draws: Annotated[int, typer.Option(help="posterior draws (with --posterior)", min=2)] = 20,
) -> None:
    """Compare policies with a baseline, paired by seed."""
    from analysis.compare import compare_store
    from simulation.scenario import ConfigError

    with user_errors():
        comparison = compare_store(
            results,
            baseline,
            policy,
            experiment=experiment,
            confidence=confidence,
            rank_by=rank_by,
        )
        if report is not None and report.suffix.lower() not in (".html", ".htm"):
            raise ConfigError(f"--report {report}: must end in .html")
        study = _pick_sensitivity(results, sensitivity, baseline) if report else None
        parts = (
            _decompose(results, comparison, metric, experiment, seeds, max_exact, workers,
                       scheduler)
            if decompose else {}
        )  # fmt: skip
        carried = (
            _posterior(results, comparison, posterior, draws, seeds, workers, scheduler)
            if posterior is not None
            else None
        )
    if json_:
        data = comparison.to_json()
        if decompose:
            data["decomposition"] = {p: r.to_json() | {"levers": players}
                                     for p, (players, r) in parts.items()}  # fmt: skip
        if carried is not None:
            data["posterior"] = json.loads(carried.to_json(orient="records"))
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
    else:
        _print_comparison(comparison, _console())
        for policy, (players, result) in parts.items():
            _print_decomposition(policy, comparison.baseline, players, result, _console())
        if carried is not None:
            _print_posterior(carried, posterior, _console())
    if report is not None:
        from analysis import report as reporting

        page = reporting.build(
            comparison, reporting.monthly_of(comparison, results), study, decomposition=parts
        )
        reporting.write(report, page)
        typer.echo(f"wrote {report} ({len(page) / 1e6:.1f} MB; opens offline)", err=json_)


def sensitivity(
    scenario: Annotated[str, typer.Argument(help="scenario file or library name")],
    params: Annotated[
        str,
        typer.Option(
            "--params",
            help="comma-separated parameter paths, each optionally "
            "PATH=LOW:HIGH (default: the schema's range)",
        ),
    ],  # fmt: skip
    method: Annotated[str, typer.Option(help="morris (screening) or sobol (variance)")] = "morris",
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            "-n",
            help="Morris trajectories (default 10) or Sobol' base "
            "sample, a power of 2 (default 32)",
        ),
    ] = None,  # fmt: skip
    levels: Annotated[int, typer.Option(help="Morris grid levels")] = 4,
    seeds: Annotated[int, typer.Option(help="seeds per point (1..N), averaged", min=1)] = 2,
    months: Annotated[int | None, typer.Option(help="months per run", min=1, max=600)] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="fixed override PATH=VALUE for every run; repeatable"),
    ] = None,
    metric: Annotated[str, typer.Option(help="summary metric to explain")] = "credit_access_rate",
    out: Annotated[Path, typer.Option("--out", "-o", help="results store for the runs")] = Path(
        "results/sensitivity"
    ),
    report: Annotated[Path | None, typer.Option(help="write an HTML report to this file")] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the indices as JSON")] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="local processes (0: no Dask)")
    ] = None,
    sampler_seed: Annotated[int, typer.Option(help="seed of the SALib sampler", min=0)] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Rank which parameters move credit access most."""
    if workers != 0:
        start_fork_server()  # the workers import the model while this process reads the study
    from analysis.sensitivity import make_study, run_study
    from analysis.store import load_failures
    from simulation.scenario import ConfigError, parse_overrides

    with user_errors():
        study = make_study(
            scenario, params, method=method, samples=samples, levels=levels,
            sampler_seed=sampler_seed, seeds=seeds, months=months,
            overrides=parse_overrides(set_),
        )  # fmt: skip
        if report is not None and report.suffix.lower() not in (".html", ".htm"):
            raise ConfigError(f"--report {report}: must end in .html")
        with batch_interrupt(out):
            result, batch = run_study(study, out, workers=workers, progress=progress, metric=metric)
    typer.echo(
        f"{study.name()}: {batch.planned} runs, {batch.ran} run now in "
        f"{batch.seconds:.1f} s -> {out}",
        err=True,
    )
    if result is None:
        for error, count in load_failures(out, study.name()).error.value_counts().items():
            typer.echo(f"failed x{count}: {error}", err=True)
        raise typer.Exit(1)
    if json_:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n")
    else:
        _print_ranking(result, _console())
    if report is not None:
        from analysis import report as reporting

        page = reporting.build(None, sensitivity=result)
        reporting.write(report, page)
        typer.echo(f"wrote {report} (opens offline)", err=json_)


def _print_ranking(result, console: Console) -> None:
    key = "mu*" if result.study.method == "morris" else "ST"
    table = Table(
        title=f"what moves {result.metric} ({result.study.method}, {result.runs} runs): "
        f"{key} by group, +/- 95% conf",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("rank", justify="right")
    table.add_column("parameter")
    table.add_column("range", justify="right")
    from analysis.labels import GROUP_LABELS

    groups = [g for g in GROUP_LABELS if g in set(result.indices.group)]
    for g in groups:
        table.add_column("all SMEs" if g == "all" else g, justify="right")
    by = result.indices.set_index(["group", "parameter"])
    for r in result.ranking("all").itertuples():
        cells = [
            f"{by.loc[(g, r.parameter), 'importance']:.4f} "
            f"+/- {by.loc[(g, r.parameter), 'importance_conf']:.4f}"
            for g in groups
        ]
        table.add_row(str(r.rank), r.parameter, f"{r.low:g} .. {r.high:g}", *cells)
    console.print(table)
