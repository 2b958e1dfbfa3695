"""Helpers of the browser tests (fixtures live in conftest.py)."""

from __future__ import annotations

PAGE_TIMEOUT_MS = 180_000  # a first result on a loaded 2-core machine


def open_dashboard(chromium, url: str):
    """A fresh browser context (its own Solara session) on the dashboard, first result shown."""
    context = chromium.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.locator(".scf-policy-credit_access_rate").wait_for(state="attached")
    return page
