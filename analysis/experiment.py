"""Experiment files: scenarios x sweep points x seeds, expanded into a fixed list of runs.

An experiment file (YAML) names library scenarios or scenario files, the seeds (a count N means
seeds 1..N, or an explicit list), the horizon, an optional `set:` mapping of parameter paths
applied to every run, and an optional sweep: a full `grid` over parameter paths, or a Latin
hypercube (`lhs`) of K points over ranges. `expand` turns it into run specs in a deterministic
order (scenario, then sweep point, then seed), each with its resolved configuration and run id.

Every mistake is a one-line `ConfigError` naming the file, the field, the allowed values and the
value given.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.store import run_id, scenario_id
from simulation.config import ScenarioConfig, get_dotted
from simulation.scenario import (
    SCENARIO_DIR,
    SUFFIXES,
    ConfigError,
    load_scenario,
    parameter,
    set_path,
    validate,
)
from simulation.yaml_input import as_mapping, parse_yaml, read_text

MAX_RUNS = 100_000
MAX_SEED = 2**63 - 1
RESERVED = {
    "months": "give the horizon as `months:` at the top of the experiment",
    "description": "the description names a scenario; it is not a parameter",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LatinHypercube(_Strict):
    """K points spread over parameter ranges, one per stratum in every dimension."""

    points: int = Field(ge=1, le=MAX_RUNS, description="number of points K")
    seed: int = Field(0, ge=0, description="seed of the sampler (not of the runs)")
    ranges: dict[str, tuple[float, float]] = Field(min_length=1, description="path: [low, high]")

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for path, (low, high) in ranges.items():
            if not low < high:
                raise ValueError(f"{path}: low must be below high (got [{low:g}, {high:g}])")
        return ranges


class Sweep(_Strict):
    """Either a full grid over parameter paths or a Latin hypercube over ranges."""

    grid: dict[str, list[Any]] | None = Field(None, description="path: [value, ...]")
    lhs: LatinHypercube | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Sweep:
        if (self.grid is None) == (self.lhs is None):
            raise ValueError("give exactly one of grid or lhs")
        for path, values in (self.grid or {}).items():
            if not values:
                raise ValueError(f"grid.{path}: needs at least one value")
        return self


class Experiment(_Strict):
    """The validated content of an experiment file."""

    description: str = Field("", description="one line saying what the experiment asks")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="name in the store (default: the file's stem)",
    )
    scenarios: list[str] = Field(min_length=1, description="library names or scenario files")
    seeds: list[int] = Field(description="a count N (seeds 1..N) or a list of seeds")
    months: int | None = Field(None, ge=1, le=600, description="horizon of every run")
    overrides: dict[str, Any] = Field(
        default_factory=dict, alias="set", description="parameter path: value, for every run"
    )
    sweep: Sweep | None = None

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_RUNS:
                raise ValueError(f"a count must be between 1 and {MAX_RUNS}")
            return list(range(1, value + 1))
        ok = (
            isinstance(value, list)
            and value
            and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in value
            )
        )
        if not ok:
            raise ValueError("must be a count N >= 1 or a non-empty list of integers >= 0")
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    @field_validator("months", mode="before")
    @classmethod
    def _whole_months(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int)):
            raise ValueError("must be a whole number of months between 1 and 600")
        return value


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: what to compute and how to label it."""

    experiment: str
    scenario: str
    variant: str
    point: int
    seed: int
    months: int
    run_id: str
    scenario_id: str
    config: dict[str, Any] = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """What the store keeps with the run (content only, no labels)."""
        return {
            "run_id": self.run_id,
            "scenario_id": self.scenario_id,
            "seed": self.seed,
            "months": self.months,
            "config": self.config,
        }


@dataclass(frozen=True)
class Plan:
    """An expanded experiment: its name, description, source text and run specs."""

    name: str
    description: str
    source_text: str
    specs: list[RunSpec]

    def frame(self) -> pd.DataFrame:
        """One row per run: the labels the store writes as the experiment's plan."""
        rows = []
        for s in self.specs:
            row = {
                "experiment": s.experiment,
                "scenario": s.scenario,
                "variant": s.variant,
                "point": s.point,
                "seed": s.seed,
                "months": s.months,
                "run_id": s.run_id,
                "scenario_id": s.scenario_id,
            }
            row.update({f"param.{k}": v for k, v in s.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- reading


def find_experiment(name: str | Path) -> Path:
    """An experiment file by path, or by library name (`minimal`, `experiments/minimal`)."""
    p = Path(name)
    if p.suffix and p.suffix not in SUFFIXES:
        raise ConfigError(f"{name}: an experiment file ends in .yaml (got {p.suffix!r})")
    for base in (Path(), SCENARIO_DIR, SCENARIO_DIR / "experiments"):
        for c in (base / p, (base / p).with_suffix(".yaml")):
            if c.is_file():
                return c
    shipped = ", ".join(sorted(f.stem for f in (SCENARIO_DIR / "experiments").glob("*.yaml")))
    raise ConfigError(
        f"{name}: experiment file not found (give a path, or a shipped experiment: {shipped})"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "function-before") and not str(part).startswith(
            ("function-", "tuple[")
        ):
            out += ("." if out else "") + str(part)
    return out


def _pydantic_line(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = _location(err["loc"]) or "experiment"
        if err["type"] == "extra_forbidden":
            known = ", ".join(f.alias or n for n, f in Experiment.model_fields.items())
            parts.append(
                f"{where}: unknown field (experiment fields: {known})"
                if len(err["loc"]) == 1
                else f"{where}: unknown field"
            )
            continue
        if err["type"] == "missing":
            parts.append(f"{where}: missing (a required field)")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if "ranges." in where and err["type"] != "value_error":
            msg = "must be [low, high], two numbers"
        got = "" if "(got" in msg else f" (got {_short(err.get('input'))})"
        parts.append(f"{where}: {msg}{got}")
    return f"{source}: " + "; ".join(parts)


def read_experiment(name: str | Path) -> tuple[Path, Experiment, str]:
    """Find, read and validate an experiment file: (path, experiment, its text)."""
    path = find_experiment(name)
    text = read_text(path)
    data = as_mapping(parse_yaml(text, str(path)), str(path))
    try:
        # strict, through JSON as a file is: "5" is not a count, true is not a number
        return path, Experiment.model_validate_json(json.dumps(data), strict=True), text
    except ValidationError as exc:
        raise ConfigError(_pydantic_line(str(path), exc)) from None


# ----------------------------------------------------------------------------- sweeps


def _kind(source: str, where: str, path: str) -> str:
    """The kind of a parameter path, or a ConfigError naming where it was written."""
    try:
        return parameter(path).kind
    except ConfigError as exc:
        raise ConfigError(f"{source}: {where}.{exc}") from None


def _check_value(source: str, where: str, path: str, value: Any) -> None:
    """Check one parameter value against the schema (type and range)."""
    if path in RESERVED:
        raise ConfigError(f"{source}: {where}.{path}: not a sweepable parameter ({RESERVED[path]})")
    _kind(source, where, path)
    data = ScenarioConfig().model_dump(mode="json")
    set_path(data, path, value)
    validate(data, f"{source}: {where}")


def latin_hypercube(points: int, dims: int, seed: int) -> np.ndarray:
    """`points` x `dims` samples in [0, 1): every dimension has one point per 1/points stratum."""
    rng = np.random.default_rng(seed)
    cols = [(rng.permutation(points) + rng.random(points)) / points for _ in range(dims)]
    return np.column_stack(cols) if cols else np.empty((points, 0))


def _lhs_points(source: str, lhs: LatinHypercube) -> list[dict[str, Any]]:
    paths = list(lhs.ranges)
    kinds = {}
    for path in paths:
        low, high = lhs.ranges[path]
        if path not in RESERVED:
            kinds[path] = _kind(source, "sweep.lhs.ranges", path)
            if kinds[path] not in ("int", "float"):
                raise ConfigError(
                    f"{source}: sweep.lhs.ranges.{path}: a Latin hypercube needs a "
                    f"numeric parameter ({path} is {kinds[path]}); sweep it with grid"
                )
        for value in (low, high):
            # a range is two numbers; an int parameter's bounds are whole numbers
            whole = kinds.get(path) == "int" and float(value).is_integer()
            _check_value(source, "sweep.lhs.ranges", path, int(value) if whole else value)
    unit = latin_hypercube(lhs.points, len(paths), lhs.seed)
    out = []
    for row in unit:
        point: dict[str, Any] = {}
        for path, u in zip(paths, row, strict=True):
            low, high = lhs.ranges[path]
            if kinds[path] == "int":
                point[path] = int(min(np.floor(low + u * (high - low + 1)), high))
            else:
                point[path] = min(max(float(f"{low + u * (high - low):.6g}"), low), high)
        out.append(point)
    return out


def n_points(sweep: Sweep | None) -> int:
    """How many points a sweep has, computed from its sizes (1 without a sweep)."""
    if sweep is None:
        return 1
    if sweep.lhs is not None:
        return sweep.lhs.points
    return math.prod(len(values) for values in (sweep.grid or {}).values())


def sweep_points(source: str, sweep: Sweep | None) -> list[dict[str, Any]]:
    """The sweep's points in order (grid: last path varies fastest); [{}] without a sweep."""
    if sweep is None:
        return [{}]
    if sweep.lhs is not None:
        return _lhs_points(source, sweep.lhs)
    grid = sweep.grid or {}
    for path, values in grid.items():
        for value in values:
            _check_value(source, "sweep.grid", path, value)
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _variant(scenario: str, sweep: Sweep | None, index: int, point: dict[str, Any]) -> str:
    if sweep is None:
        return scenario
    if sweep.lhs is not None:
        return f"{scenario} lhs#{index}"
    return scenario + " " + ",".join(f"{k}={_text(v)}" for k, v in point.items())


def _text(value: Any) -> str:
    """A value as YAML would write it inline: true, 0.9, [ai,biomedicine]."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(_text, value)) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


# ----------------------------------------------------------------------------- expansion


def expand(
    experiment: Experiment, source: str, name: str, text: str = "", base_dir: Path | None = None
) -> Plan:
    """All runs of an experiment, in order: scenario, then sweep point, then seed.

    Scenario names are looked up beside the experiment file (`base_dir`), then in the scenario
    library; with a `base_dir` a name that leaves both is refused before anything is read.
    """
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise ConfigError(
            f"{source}: name: must be letters, digits, '_', '.', '-' "
            f"(got {name!r}); set name: in the experiment"
        )
    total = len(experiment.scenarios) * n_points(experiment.sweep) * len(experiment.seeds)
    if total > MAX_RUNS:  # counted from the sizes: nothing has been expanded yet
        raise ConfigError(
            f"{source}: {total} runs (scenarios x sweep points x seeds) is more "
            f"than {MAX_RUNS}; split the experiment"
        )
    for path, value in experiment.overrides.items():
        _check_value(source, "set", path, value)
    points = sweep_points(source, experiment.sweep)
    resolved = []
    for i, scenario in enumerate(experiment.scenarios):
        for index, point in enumerate(points):
            try:
                cfg = load_scenario(scenario, {**experiment.overrides, **point}, base_dir)
            except ConfigError as exc:
                raise ConfigError(f"{source}: scenarios[{i}]: {exc}") from None
            resolved.append((scenario, index, point, cfg))
    horizons = {cfg.months for *_, cfg in resolved}
    if experiment.months is None and len(horizons) > 1:
        raise ConfigError(
            f"{source}: months: the scenarios have different default horizons "
            f"({', '.join(map(str, sorted(horizons)))}); set months: for all"
        )
    specs = []
    for scenario, index, point, cfg in resolved:
        months = experiment.months or cfg.months
        config = cfg.model_dump(mode="json")
        config.pop("description", None)
        config["months"] = months
        sid = scenario_id(config, months)
        # the values as the schema resolved them (typed), not as written (`1` for `true`)
        params = {path: get_dotted(config, path) for path in {**experiment.overrides, **point}}
        variant = _variant(scenario, experiment.sweep, index, {k: params[k] for k in point})
        for seed in experiment.seeds:
            specs.append(
                RunSpec(
                    name,
                    scenario,
                    variant,
                    index,
                    seed,
                    months,
                    run_id(config, seed, months),
                    sid,
                    config,
                    params,
                )
            )
    return Plan(name, experiment.description, text, specs)


def load_experiment(name: str | Path) -> Plan:
    """Read, validate and expand an experiment file into its plan."""
    path, experiment, text = read_experiment(name)
    return expand(experiment, str(path), experiment.name or path.stem, text, path.parent)
