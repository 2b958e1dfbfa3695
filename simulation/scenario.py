"""Scenario files: YAML over the schema, `base:` composition, dotted `--set` overrides.

Every user mistake becomes a `ConfigError` whose message is one line naming the file, the field,
the allowed range and the value given, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import copy
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from simulation.config import ScenarioConfig
from simulation.yaml_input import ConfigError, parse_yaml, read_yaml_mapping

__all__ = ["ConfigError", "read_yaml_mapping"]  # re-exported: callers import them from here

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ParamSpec:
    """One leaf of the schema, addressable by its dotted path."""

    path: str
    annotation: Any
    default: Any
    description: str
    unit: str
    ge: float | None
    le: float | None
    gt: float | None
    lt: float | None

    @property
    def kind(self) -> str:
        """'bool', 'int', 'float', 'choice' or 'other' (for controls and parsing)."""
        ann = self.annotation
        if ann is bool:
            return "bool"
        if ann is int:
            return "int"
        if ann is float:
            return "float"
        if typing.get_origin(ann) is typing.Literal:
            return "choice"
        return "other"

    @property
    def choices(self) -> tuple[Any, ...]:
        """Allowed values of a `choice` parameter."""
        return typing.get_args(self.annotation) if self.kind == "choice" else ()

    def range_text(self) -> str:
        """Human statement of the allowed values, used in error messages and help."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        lo = f">= {_num(self.ge)}" if self.ge is not None else (
            f"> {_num(self.gt)}" if self.gt is not None else "")
        hi = f"<= {_num(self.le)}" if self.le is not None else (
            f"< {_num(self.lt)}" if self.lt is not None else "")
        return " and ".join(p for p in (lo, hi) if p) or f"a {self.kind}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def _walk(model: type[BaseModel], prefix: str = "") -> list[ParamSpec]:
    specs: list[ParamSpec] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            specs.extend(_walk(ann, path + "."))
            continue
        limits = {k: None for k in ("ge", "le", "gt", "lt")}
        for meta in field.metadata:
            for k in limits:
                if hasattr(meta, k):
                    limits[k] = getattr(meta, k)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        default = field.get_default(call_default_factory=True)
        specs.append(ParamSpec(path, ann, default, field.description or "",
                               str(extra.get("unit", "")), **limits))
    return specs


PARAMETERS: dict[str, ParamSpec] = {s.path: s for s in _walk(ScenarioConfig)}


def parameter(path: str) -> ParamSpec:
    """The spec of a dotted parameter path, or a ConfigError listing close names."""
    if path not in PARAMETERS:
        section = path.split(".")[0]
        near = [p for p in PARAMETERS if p.startswith(section + ".")] or list(PARAMETERS)[:8]
        raise ConfigError(f"{path}: unknown parameter (known in this section: "
                          f"{', '.join(near[:12])}{', ...' if len(near) > 12 else ''})")
    return PARAMETERS[path]


_KIND_TEXT = {"int": "a whole number", "float": "a number"}


def _describe(err: dict[str, Any], data: dict[str, Any]) -> str:
    if not err["loc"]:  # a check of the whole scenario: its message says what and where
        return err["msg"].removeprefix("Value error, ")
    loc = ".".join(str(p) for p in err["loc"])
    given = err.get("input")
    spec = PARAMETERS.get(loc)
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field (not in the schema)"
    allowed = spec.range_text() if spec else err["msg"]
    if spec is None and err["type"] in ("model_type", "dict_type"):
        allowed = "a mapping of fields"
    kind = _KIND_TEXT.get(spec.kind) if spec is not None else None
    if kind and err["type"].endswith(("_type", "_parsing", "_from_float")):
        if allowed == f"a {spec.kind}":
            return f"{loc}: must be {kind} (got {given!r})"
        return f"{loc}: must be {allowed}, {kind} (got {given!r})"
    return f"{loc}: must be {allowed} (got {given!r})"


def _json_value(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # a NumPy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a value a scenario can hold")


def validate(data: dict[str, Any], source: str = "scenario") -> ScenarioConfig:
    """Validate a raw mapping into a ScenarioConfig, raising one-line ConfigErrors.

    Strict, as JSON is: a string is not a number (`"1000"`), a boolean is not a share, a
    fraction is not a whole number; an int is a float. The data goes through JSON so that lists
    stand for tuples and mapping keys for numbers exactly as in a file.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of fields (got {type(data).__name__})")
    try:
        text = json.dumps(data, default=_json_value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    _check_schedule(json.loads(text), source)
    try:
        return ScenarioConfig.model_validate_json(text, strict=True)
    except ValidationError as exc:
        errs = exc.errors()
        raise ConfigError("; ".join(f"{source}: {_describe(e, data)}" for e in errs)) from None


def _check_schedule(data: dict[str, Any], source: str) -> None:
    """Each value a `schedule:` step sets, checked as strictly as the same value set directly
    (the schema checks the steps' combined effect; unknown paths are left to it)."""
    steps = data.get("schedule")
    if not isinstance(steps, list):
        return
    for i, step in enumerate(steps):
        values = step.get("set") if isinstance(step, dict) else None
        for path, value in (values or {}).items() if isinstance(values, dict) else ():
            if path not in PARAMETERS:
                continue
            probe = {}
            set_path(probe, path, value)
            try:
                ScenarioConfig.model_validate_json(json.dumps(probe), strict=True)
            except ValidationError as exc:
                errs = [e for e in exc.errors() if ".".join(map(str, e["loc"])) == path]
                if errs:
                    raise ConfigError(
                        f"{source}: schedule[{i}].set.{_describe(errs[0], probe)}"
                    ) from None


def parse_value(path: str, text: str) -> Any:
    """Parse the text of a `--set path=value` by YAML rules (1.5, true, core_led, [a, b])."""
    parameter(path)
    try:
        return parse_yaml(text, f"--set {path}")
    except ConfigError:  # not YAML: the text itself, which the schema then judges
        return text


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write `value` at a dotted path inside a raw scenario mapping."""
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{path}: cannot set inside a non-mapping value")
    node[parts[-1]] = value


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Turn ['a.b=1', ...] into {'a.b': 1}, checking each path exists."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected PATH=VALUE, e.g. core.data_sharing=0.8")
        path, text = pair.split("=", 1)
        out[path.strip()] = parse_value(path.strip(), text.strip())
    return out


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def resolve_path(name: str | Path, relative_to: Path | None = None) -> Path:
    """Find a scenario by file path or library name (`baselines/core_led`); nothing is read.

    A name given on the command line (`relative_to` None) may be any .yaml file. A name written
    inside a file (an experiment's `scenarios:`, a scenario's `base:`; `relative_to` is that
    file's folder) must resolve inside that folder or inside the scenario library: an absolute
    path or a `../..` that leaves both is refused before anything is opened.
    """
    p = Path(name)
    if p.suffix and p.suffix not in SUFFIXES:
        raise ConfigError(f"{name}: a scenario file ends in .yaml (got {p.suffix!r})")
    candidates = [p, p.with_suffix(".yaml")] if relative_to is None else []
    if relative_to is not None:
        candidates += [relative_to / p, (relative_to / p).with_suffix(".yaml")]
    candidates += [SCENARIO_DIR / p, (SCENARIO_DIR / p).with_suffix(".yaml")]
    if relative_to is not None:
        allowed = [c for c in candidates if _inside(c, relative_to) or _inside(c, SCENARIO_DIR)]
        if not allowed:
            raise ConfigError(
                f"{name}: outside the scenario library and the folder of the file naming it "
                f"(name a library scenario such as baselines/core_led, or a file beside it)"
            )
        candidates = allowed
    for c in candidates:
        if c.suffix in SUFFIXES and c.is_file():
            return c
    if relative_to is None and p.is_file():
        raise ConfigError(f"{name}: a scenario file ends in .yaml")
    raise ConfigError(f"{name}: scenario not found (give a file path or a library name such as "
                      f"baselines/core_led; `scf scenarios list` shows them)")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_raw(name: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and its `base:` chain into one raw mapping (not yet validated)."""
    path = resolve_path(name, _chain[-1].parent if _chain else None).resolve()
    if path in _chain:
        cycle = " -> ".join(str(p.name) for p in (*_chain, path))
        raise ConfigError(f"{path}: base: cyclic scenario composition ({cycle})")
    data = read_yaml_mapping(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: must be a scenario name such as baselines/core_led "
                          f"(got {base!r})")
    try:
        parent = load_raw(base, (*_chain, path))
    except ConfigError as exc:
        if "scenario not found" in str(exc):
            raise ConfigError(f"{path}: base: {exc}") from None
        raise
    parent.pop("description", None)
    return _merge(parent, data)


def load_scenario(
    name: str | Path, overrides: dict[str, Any] | None = None, relative_to: Path | None = None
) -> ScenarioConfig:
    """Load, compose, override and validate a scenario into a ScenarioConfig.

    `relative_to`: the folder of the file that names the scenario (see `resolve_path`).
    """
    path = resolve_path(name, relative_to)
    data = load_raw(path)
    for k, v in (overrides or {}).items():
        parameter(k)
        set_path(data, k, v)
    return validate(data, str(path))


def with_overrides(config: ScenarioConfig, overrides: dict[str, Any]) -> ScenarioConfig:
    """A copy of `config` with dotted-path overrides applied and re-validated."""
    data = config.model_dump(mode="json")
    for k, v in overrides.items():
        parameter(k)
        set_path(data, k, v)
    return validate(data, "--set")


def to_yaml(config: ScenarioConfig) -> str:
    """The fully resolved configuration as YAML that `scf run` accepts back."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
