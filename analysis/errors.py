"""Turning user mistakes into one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from simulation.scenario import ConfigError


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside this block a ConfigError ends the command with its message and exit code 2."""
    try:
        yield
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2) from None
