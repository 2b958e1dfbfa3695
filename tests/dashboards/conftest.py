"""Browser-test fixtures: the dashboard served by `python -m dashboards.serve`, Debian's chromium.

The server runs as a subprocess on a free port, exactly as a user starts it (`scf dashboard` is
the same function). Playwright drives /usr/bin/chromium (Playwright cannot download its own
browser here) with the launch flags from the environment notes. Waits are on page state, never
sleeps; timeouts are generous because CI has two cores shared by server, browser and pytest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards.serve import ROOT
from tests.dashboards.browser import PAGE_TIMEOUT_MS

CHROMIUM = Path(os.environ.get("SCF_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 120.0  # seconds until the server answers HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)  # polling interval of a readiness probe, not a fixed wait
    raise RuntimeError(f"dashboard server not answering at {url}:\n{log.read_text()}")


@pytest.fixture(scope="session")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the dashboard server once per test session; stop it afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard") / "server.log"
    cmd = [sys.executable, "-m", "dashboards.serve", "--port", str(port), "--host", "127.0.0.1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_http(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium driven by Playwright."""
    if os.environ.get("SCF_SKIP_BROWSER") == "1":
        pytest.skip("SCF_SKIP_BROWSER=1")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run .ci/setup (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)  # assertions wait for the page, never sleep
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_FLAGS)
        yield browser
        browser.close()
