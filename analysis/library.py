"""The scenario library under scenarios/: listing, resolving and validating its files.

The library has four shelves: `baselines/` (one per chain type, and Shanghai's mix), `levers/`
(one policy each, on top of a baseline), `pilots/` (the study's five pilot chains) and `packages/`
(the pre-policy state and the combined package). A library name is the path under scenarios/
without `.yaml`, e.g. `levers/guarantee_fee`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from simulation.scenario import SCENARIO_DIR, ConfigError, load_scenario, to_yaml
from simulation.yaml_input import read_yaml_mapping

SHELVES: tuple[str, ...] = ("baselines", "levers", "pilots", "packages")


@dataclass(frozen=True)
class LibraryEntry:
    """One scenario file of the library, resolved (or the reason it does not resolve)."""

    name: str
    path: Path
    chain_type: str
    description: str
    base: str | None
    problem: str | None = None


def library_files(root: Path = SCENARIO_DIR) -> list[Path]:
    """Every scenario file on the library's shelves, shelf by shelf, sorted by name."""
    return [p for shelf in SHELVES for p in sorted((root / shelf).glob("*.yaml"))]


def library_name(path: Path, root: Path = SCENARIO_DIR) -> str:
    """`levers/guarantee_fee` for scenarios/levers/guarantee_fee.yaml."""
    return path.resolve().relative_to(root.resolve()).with_suffix("").as_posix()


def declared_base(path: Path) -> str | None:
    """The `base:` a file names itself (not its resolved chain), or None."""
    base = read_yaml_mapping(path).get("base")
    return base if isinstance(base, str) else None


def entries(root: Path = SCENARIO_DIR) -> list[LibraryEntry]:
    """The library's scenarios with chain type and description; broken files say why."""
    out = []
    for path in library_files(root):
        name = library_name(path, root)
        try:
            cfg = load_scenario(path)
        except ConfigError as exc:
            out.append(LibraryEntry(name, path, "?", "", None, problem=str(exc)))
            continue
        out.append(LibraryEntry(name, path, cfg.chain.type, cfg.description, declared_base(path)))
    return out


def show(name: str, overrides: dict | None = None) -> str:
    """The fully resolved configuration of a library scenario (or file) as YAML."""
    return to_yaml(load_scenario(name, overrides))


def _split_problems(message: str) -> list[str]:
    """One line per problem: the schema joins a file's problems with '; <file>: '."""
    first = message.split(": ", 1)[0]
    return re.split(r"; (?=" + re.escape(first) + ": )", message)


def problems(file: str | Path) -> list[str]:
    """Everything wrong with one scenario file, one line per problem; [] when it is valid.

    Covers malformed YAML, unknown fields, values out of range, a `base:` that cannot be
    found and cyclic composition. Each line names the file, the field, the allowed range
    and the value given.
    """
    try:
        load_scenario(file)
    except ConfigError as exc:
        return _split_problems(str(exc))
    return []
