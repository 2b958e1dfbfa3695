"""The dashboard's controls, derived from the one schema, and how they become scenarios.

Every lever is a dotted path into `simulation.scenario.PARAMETERS`: its kind, unit, default and
allowed range come from the schema, never from here. What this module adds is presentation only:
the group a lever sits in, the study's reference values to mark beside it, a slider step, and, for
parameters whose allowed range is far wider than a useful slider (guarantor capital may be up to
1e7), a narrower *view* span that must lie inside the schema's range (a test checks this).

A dashboard state is a `Settings`: which baseline, population size, seed, months, and the lever
values. The baseline run uses the baseline scenario; the policy run is the same scenario with the
levers applied on top (`with_overrides`), so both share population, seed and horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simulation.config import CHAIN_TYPES, ScenarioConfig
from simulation.scenario import (
    PARAMETERS,
    SCENARIO_DIR,
    ConfigError,
    ParamSpec,
    load_scenario,
    to_yaml,
    with_overrides,
)

WAIVER_SECTORS: tuple[str, ...] = ("integrated_circuits", "ai", "biomedicine")


@dataclass(frozen=True)
class Lever:
    """Presentation of one schema parameter as a control."""

    path: str
    group: str
    refs: tuple[float, ...] = ()  # the study's reference values, marked beside the control
    view: tuple[float, float] | None = None  # slider span when the schema's range is too wide
    step: float | None = None
    percent: bool = False  # show a fraction as a percentage

    @property
    def spec(self) -> ParamSpec:
        """The schema's entry for this lever."""
        return PARAMETERS[self.path]

    @property
    def kind(self) -> str:
        """'bool', 'int', 'float', or 'waiver' (the fee-waiver sector list as one switch)."""
        if self.path == "guarantor.fee_waiver_sectors":
            return "waiver"
        return self.spec.kind

    @property
    def bounds(self) -> tuple[float, float]:
        """Slider minimum and maximum: the view span, else the schema's own range."""
        if self.view is not None:
            return self.view
        s = self.spec
        lo = s.ge if s.ge is not None else s.gt
        hi = s.le if s.le is not None else s.lt
        if lo is None or hi is None:
            raise ValueError(f"{self.path}: open schema range, give the lever a view span")
        return float(lo), float(hi)

    @property
    def slider_step(self) -> float:
        """Slider increment (1/100 of the span unless stated)."""
        if self.step is not None:
            return self.step
        lo, hi = self.bounds
        return (hi - lo) / 100


LEVERS: tuple[Lever, ...] = (
    Lever("core.confirm_willingness", "group_core", step=0.05, percent=True),
    Lever("core.data_sharing", "group_core", step=0.05, percent=True),
    Lever("core.supply_chain_bills", "group_core"),
    Lever("core.whitelist", "group_core"),
    Lever("core.order_financing", "group_core"),
    Lever("bank.gov_data", "group_bank"),
    Lever("bank.alt_data", "group_bank"),
    Lever("guarantor.per_firm_cap", "group_guarantor", refs=(500, 1000), view=(0, 2000), step=50),
    Lever(
        "guarantor.fee_rate",
        "group_guarantor",
        refs=(0.025, 0.009),
        view=(0, 0.05),
        step=0.001,
        percent=True,
    ),
    Lever("guarantor.capital", "group_guarantor", view=(0, 24000), step=500),
    Lever("guarantor.leverage_floor", "group_guarantor", refs=(5,), view=(0, 20), step=0.5),
    Lever("guarantor.leverage_max", "group_guarantor", refs=(10,), view=(0, 20), step=0.5),
    Lever(
        "guarantor.payout_tolerance",
        "group_guarantor",
        refs=(0.05,),
        view=(0, 0.15),
        step=0.005,
        percent=True,
    ),
    Lever("guarantor.reimbursement_share", "group_guarantor", refs=(0.7,), step=0.05, percent=True),
    Lever("guarantor.fee_waiver_sectors", "group_guarantor"),
    Lever("factoring.bank_line_multiple", "group_market", view=(1, 10), step=0.5),
    Lever("payment.late_share", "group_market", step=0.05, percent=True),
    Lever(
        "payment.enforcement",
        "group_market",
        refs=(round(30.4 / 31.1, 3),),
        step=0.05,
        percent=True,
    ),
    Lever("access.online_accounts", "group_market"),
    Lever("access.one_stop", "group_market"),
)
LEVER_BY_PATH: dict[str, Lever] = {lv.path: lv for lv in LEVERS}
GROUPS: tuple[str, ...] = ("group_core", "group_bank", "group_guarantor", "group_market")

# Run settings shared by baseline and policy: (schema path, slider view span, step).
RUN_CONTROLS: dict[str, tuple[str, tuple[int, int], int]] = {
    "n_smes": ("population.n_smes", (100, 10_000), 100),
    "months": ("months", (6, 120), 6),
}
SEED_RANGE: tuple[int, int] = (0, 2**31 - 1)


def get_path(cfg: ScenarioConfig, path: str) -> Any:
    """The value at a dotted path of a config."""
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def lever_value(cfg: ScenarioConfig, lever: Lever) -> Any:
    """The control's value for a config (the waiver list becomes a switch)."""
    v = get_path(cfg, lever.path)
    if lever.kind == "waiver":
        return all(s in v for s in WAIVER_SECTORS)
    if lever.kind == "float":
        return float(v)
    return v


def lever_values(cfg: ScenarioConfig) -> dict[str, Any]:
    """Every lever's value in `cfg`."""
    return {lv.path: lever_value(cfg, lv) for lv in LEVERS}


def baseline_options() -> list[str]:
    """Keys of the baselines a user can pick: the chain types, then every library scenario.

    Library files that do not load as scenarios (experiment files, broken files) are left out.
    """
    keys = [f"chain:{c}" for c in (*CHAIN_TYPES, "mixed")]
    for path in sorted(SCENARIO_DIR.rglob("*.yaml")):
        name = path.relative_to(SCENARIO_DIR).with_suffix("").as_posix()
        if name.startswith("baselines/") and f"chain:{name.split('/', 1)[1]}" in keys:
            continue  # already offered as its chain type
        try:
            load_scenario(path)
        except ConfigError:
            continue
        keys.append(f"lib:{name}")
    return keys


def load_baseline(key: str) -> ScenarioConfig:
    """The config of a baseline key: `chain:<type>` uses `baselines/<type>` when it exists."""
    kind, _, name = key.partition(":")
    if kind == "chain":
        if (SCENARIO_DIR / "baselines" / f"{name}.yaml").is_file():
            return load_scenario(f"baselines/{name}")
        return ScenarioConfig.model_validate({"chain": {"type": name}})
    if kind == "lib":
        return load_scenario(name)
    raise ConfigError(f"{key}: unknown baseline (expected chain:<type> or lib:<name>)")


@dataclass
class Settings:
    """Everything a pair of runs depends on (hashable through `key()`)."""

    baseline: str = "chain:core_led"
    n_smes: int = int(PARAMETERS["population.n_smes"].default)
    seed: int = 1
    months: int = int(PARAMETERS["months"].default)
    levers: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple:
        """A hashable identity of these settings."""
        return (
            self.baseline,
            self.n_smes,
            self.seed,
            self.months,
            tuple(sorted((k, repr(v)) for k, v in self.levers.items())),
        )


def _run_overrides(s: Settings) -> dict[str, Any]:
    return {RUN_CONTROLS["n_smes"][0]: s.n_smes, RUN_CONTROLS["months"][0]: s.months}


def baseline_config(s: Settings) -> ScenarioConfig:
    """The baseline scenario at the chosen population size and horizon."""
    return with_overrides(load_baseline(s.baseline), _run_overrides(s))


def lever_overrides(base: ScenarioConfig, levers: dict[str, Any]) -> dict[str, Any]:
    """Dotted-path overrides for the levers whose value differs from the baseline."""
    out: dict[str, Any] = {}
    for path, value in levers.items():
        lever = LEVER_BY_PATH[path]
        current = lever_value(base, lever)
        if value == current or (
            lever.kind == "float" and math.isclose(value, current, abs_tol=1e-12)
        ):
            continue
        if lever.kind == "waiver":
            current = [s for s in get_path(base, path) if s not in WAIVER_SECTORS]
            out[path] = current + list(WAIVER_SECTORS) if value else current
        elif lever.kind == "int":
            out[path] = int(round(value))
        elif lever.kind == "float":
            out[path] = round(float(value), 10)
        else:
            out[path] = bool(value)
    return out


def policy_config(s: Settings) -> ScenarioConfig:
    """The policy scenario: the baseline with the changed levers applied."""
    base = baseline_config(s)
    over = lever_overrides(base, s.levers)
    cfg = with_overrides(base, over) if over else base
    changed = (
        ", ".join(f"{k}={'+'.join(v) if isinstance(v, list) else v}" for k, v in over.items())
        or "no lever changed"
    )
    desc = f"Dashboard policy on {s.baseline.partition(':')[2]}: {changed}"
    return cfg.model_copy(update={"description": desc})


def export_yaml(s: Settings) -> str:
    """The policy scenario as YAML that `scf run` accepts, with a header comment."""
    head = (
        f"# Exported by the SCF-Sim dashboard (baseline {s.baseline}, seed {s.seed}).\n"
        f"# Run it with: scf run <this file> --seed {s.seed}\n"
    )
    return head + to_yaml(policy_config(s))
