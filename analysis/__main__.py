"""`python -m analysis` is the `scf` command."""

from analysis.cli import entry

entry()
