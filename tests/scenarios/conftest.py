"""Shared, cached runs for the library tests: each (scenario, overrides, seed, months) runs once."""

from __future__ import annotations

from typing import Any

import pytest

from simulation.runner import run_one
from simulation.scenario import load_scenario


class Runs:
    """Summaries of library runs, computed on first use and kept for the session."""

    def __init__(self) -> None:
        self._cache: dict[tuple, dict[str, Any]] = {}

    def summary(
        self, name: str, seed: int, months: int, overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        key = (name, tuple(sorted((overrides or {}).items())), seed, months)
        if key not in self._cache:
            self._cache[key] = run_one(load_scenario(name, overrides), seed, months).summary
        return self._cache[key]


@pytest.fixture(scope="session")
def runs() -> Runs:
    return Runs()
