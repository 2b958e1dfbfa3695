"""Serve the dashboard: make sure the front end is cached, then run Solara's server.

`scf dashboard` and `python -m dashboards.serve` both end here. The server runs in production mode
(no file watching, no hot reload), with Solara's telemetry off (the machine may reach only package
registries), from the repository root so `dashboards.app` imports whether or not the project is
installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "dashboards.app"


def server_command(port: int, host: str) -> list[str]:
    """The `solara run` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--production",
        "--log-level",
        "warning",
    ]


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the server process: repo root importable, telemetry off."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    # Solara warns on every page that samesite=none cookies need https; on plain-http
    # localhost it falls back to lax, which is what we want, so the warning is only noise.
    quiet = "ignore::UserWarning:solara.server.starlette"
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS", ""), quiet) if w)
    return env


def ensure_front_end() -> None:
    """Fill Solara's asset cache if needed; warn (the page may be blank) when that fails."""
    from dashboards.assets import AssetError, ensure_assets

    try:
        filled = ensure_assets(verbose=False)
    except (AssetError, OSError, subprocess.SubprocessError) as exc:
        print(
            f"dashboard: warning: Solara's front-end cache is incomplete ({exc}); without "
            "internet access the page will be blank. Run `python -m dashboards.assets`.",
            file=sys.stderr,
        )
        return
    if filled:
        print(f"dashboard: cached {len(filled)} front-end package(s)", file=sys.stderr)


def serve(port: int = 8765, host: str = "127.0.0.1") -> None:
    """Replace this process with the dashboard server (signals then reach it directly)."""
    ensure_front_end()
    print(f"dashboard: serving on http://{host}:{port} (Ctrl+C to stop)", flush=True)
    os.chdir(ROOT)
    cmd = server_command(port, host)
    os.execve(cmd[0], cmd, server_env())


def main(argv: list[str] | None = None) -> int:
    """`python -m dashboards.serve [--port P] [--host H]`."""
    ap = argparse.ArgumentParser(description="Serve the SCF-Sim policy dashboard.")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    serve(args.port, args.host)
    return 0  # not reached: serve() replaces the process


if __name__ == "__main__":
    sys.exit(main())
