"""Turning user mistakes into one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer


@contextmanager
def batch_interrupt(out: object) -> Iterator[None]:
    """Inside this block Ctrl-C ends a batch with exit 130, saying the finished runs are kept."""
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write(
            f"interrupted: finished runs are kept in {out}; run the same command "
            f"again to finish the rest\n"
        )
        raise typer.Exit(130) from None


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside this block a ConfigError ends the command with its message and exit code 2."""
    from simulation.scenario import ConfigError  # here, so that `scf --help` stays quick

    try:
        yield
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2) from None
