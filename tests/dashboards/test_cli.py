"""`scf dashboard` is registered, documented with an example, and checks its port."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from analysis import cmd_dashboard
from analysis.cli import app
from dashboards import serve


def test_help_has_an_example_and_the_options():
    assert "Example: scf dashboard" in cmd_dashboard.HELP
    out = CliRunner().invoke(app, ["dashboard", "--help"]).output
    assert "--port" in out and "--host" in out and "scf dashboard" in out


def test_bad_port_is_a_user_error():
    res = CliRunner().invoke(app, ["dashboard", "--port", "70000"])
    assert res.exit_code == 2


def test_server_command_runs_the_app_in_production_mode():
    cmd = serve.server_command(8123, "127.0.0.1")
    assert cmd[:4] == [sys.executable, "-m", "solara", "run"]
    assert serve.APP in cmd and "--production" in cmd and "8123" in cmd
    env = serve.server_env({"PYTHONPATH": "/x"})
    assert env["PYTHONPATH"].split(":")[0] == str(serve.ROOT)
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
