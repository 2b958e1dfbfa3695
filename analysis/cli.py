"""The `scf` command line: thin Typer commands over the model and the analysis tools.

Each command lives in its own module under analysis/ and is registered here; user mistakes
(`ConfigError`) end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from analysis.cluster import start_fork_server, wants_local_workers

if wants_local_workers(sys.argv[1:]):
    # before Typer and the commands are imported (0.2-0.5 s): on 2 cores the fork server's
    # imports of the model, the longest step before the first run, then start that much sooner
    start_fork_server()

import typer  # noqa: E402
import typer._click.exceptions as click_exc  # noqa: E402

app = typer.Typer(
    name="scf",
    help="SCF-Sim: simulate supply-chain finance policy on Shanghai-shaped supply networks.\n\n"
    "Example: scf run baselines/core_led --seed 1 --months 24 --set core.data_sharing=0.8",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """SCF-Sim: simulate supply-chain finance policy on Shanghai-shaped supply networks."""


def _register() -> None:
    """Add every command. Command modules import the model and pandas only inside their
    functions, so `scf --help` answers in a fraction of a second and batch workers, which
    import this module again, stay light."""
    from analysis import (
        cmd_batch,
        cmd_calibrate,
        cmd_compare,
        cmd_dashboard,
        cmd_discover,
        cmd_optimize,
        cmd_run,
        cmd_scenarios,
    )

    app.command("run", help=cmd_run.HELP)(cmd_run.run)
    app.command("batch", help=cmd_batch.BATCH_HELP)(cmd_batch.batch)
    app.command("results", help=cmd_batch.RESULTS_HELP)(cmd_batch.results)
    app.command("compare", help=cmd_compare.COMPARE_HELP)(cmd_compare.compare)
    app.command("sensitivity", help=cmd_compare.SENSITIVITY_HELP)(cmd_compare.sensitivity)
    app.command("dashboard", help=cmd_dashboard.HELP)(cmd_dashboard.dashboard)
    app.command("optimize", help=cmd_optimize.HELP)(cmd_optimize.optimize)
    app.command("discover", help=cmd_discover.HELP)(cmd_discover.discover)
    app.command("calibrate", help=cmd_calibrate.HELP)(cmd_calibrate.calibrate)
    cmd_scenarios.register(app)


_register()


def entry() -> None:
    """Console-script entry: usage mistakes end in one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        code = 130
    except click_exc.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n")
        code = 0
    except click_exc.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else "scf: "
        sys.stderr.write(f"error: {where}{exc.format_message()}\n")
        code = 2
    sys.exit(code or 0)
