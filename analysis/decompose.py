"""A package's effect split into its levers (`scf compare --decompose`).

The package and its baseline are two configurations in a results store. The parameters where
they differ are grouped into levers: a lever file of the library (`levers/guarantor_mandate`
sets both the leverage ceiling and the payout tolerance) whose every setting the package makes
is one lever; each parameter left over is a lever of its own. Shapley values over those levers
(`analysis.shapley`) then split the package's effect, on the store's paired seeds: the runs of
every subset of levers go through the batch runner's workers and are kept in the same store, so
a second decomposition costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.compare import select
from analysis.shapley import MAX_EXACT, ShapleyResult, decompose
from analysis.store import Store, load_summaries
from simulation.config import ScenarioConfig
from simulation.scenario import ConfigError
from simulation.yaml_input import read_yaml_mapping

DEFAULT_METRICS = ("credit_access_rate", "tier2.credit_access_rate", "lost_output", "public_cost")
IGNORED = ("description", "months")


def leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted paths to values of a nested mapping (lists kept as values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(leaves(value, path + "."))
        else:
            out[path] = value
    return out


def library_levers() -> dict[str, dict[str, Any]]:
    """Each lever file of the library by name, with the settings it makes over its base."""
    from analysis.library import library_files, library_name

    out = {}
    for path in library_files():
        name = library_name(path)
        if name.startswith("levers/"):
            own = {k: v for k, v in read_yaml_mapping(path).items() if k not in ("base", *IGNORED)}
            out[name] = leaves(own)
    return out


def package_players(base: ScenarioConfig, policy: ScenarioConfig) -> dict[str, dict[str, Any]]:
    """The package's settings (where `policy` differs from `base`) grouped into levers."""
    a = leaves(base.model_dump(mode="json"))
    b = leaves(policy.model_dump(mode="json"))
    left = {p: b[p] for p in b if p not in IGNORED and a.get(p) != b[p]}
    if not left:
        raise ConfigError("--decompose: the policy and the baseline have the same settings")
    players: dict[str, dict[str, Any]] = {}
    files = sorted(library_levers().items(), key=lambda kv: -len(kv[1]))
    for name, settings in files:
        if settings and all(p in left and left[p] == v for p, v in settings.items()):
            players[name.removeprefix("levers/")] = {p: left.pop(p) for p in settings}
    players.update({p: {p: v} for p, v in left.items()})
    return players


def _config_of(store: Store, rows: Any) -> ScenarioConfig:
    return ScenarioConfig.model_validate(store.run_meta(rows.run_id.iloc[0])["config"])


def decompose_store(
    path: str | Path,
    baseline: str,
    policy: str,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    experiment: str | None = None,
    seeds: int | None = None,
    max_exact: int = MAX_EXACT,
    orders: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    evaluator: Any = None,
) -> tuple[dict[str, dict[str, Any]], ShapleyResult]:
    """The levers of `policy` over `baseline` in a store and their Shapley values, on the
    seeds both ran (the first `seeds` of them if given)."""
    where = str(path)
    summaries = load_summaries(path, experiment)
    base_rows = select(summaries, baseline, where)
    pol_rows = select(summaries, policy, where)
    shared = sorted(set(base_rows.seed) & set(pol_rows.seed))
    if not shared:
        raise ConfigError(f"{where}: {policy!r} and {baseline!r} share no seed")
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds: must be >= 1 (got {seeds})")
        shared = shared[:seeds]
    store = Store.open(path)
    base, pol = _config_of(store, base_rows), _config_of(store, pol_rows)
    players = package_players(base, pol)
    months = int(base_rows.months.iloc[0])
    result = decompose(
        base, players, seeds=[int(s) for s in shared], metrics=list(metrics), months=months,
        max_exact=max_exact, orders=orders, evaluator=evaluator, workers=workers,
        scheduler=scheduler, store=None if evaluator is not None else str(path),
    )  # fmt: skip
    return players, result
