"""`scf dashboard`: serve the Solara policy dashboard (a thin layer over dashboards.serve)."""

from __future__ import annotations

from typing import Annotated

import typer

HELP = (
    "Serve the policy dashboard in the browser: pick a chain type or library scenario, move the "
    "study's levers (确权, 数据共享, 担保上限 ...), and compare the policy run with its baseline. "
    "Each browser tab has its own runs.\n\n"
    "Before serving, Solara's front end is cached from the npm registry if missing (a machine "
    "without internet would otherwise show a blank page).\n\n"
    "Example: scf dashboard --port 8765 --host 127.0.0.1   (then open http://127.0.0.1:8765)"
)


def dashboard(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0 for all).")
    ] = "127.0.0.1",
) -> None:
    """Serve the dashboard until interrupted (Ctrl+C)."""
    if not 0 < port < 65536:
        typer.echo(f"error: --port must be between 1 and 65535 (got {port})", err=True)
        raise typer.Exit(2)
    from dashboards.serve import serve

    serve(port=port, host=host)
