"""Experiment files: validation as one-line errors, deterministic expansion, sweeps, run ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.experiment import latin_hypercube, load_experiment
from analysis.store import run_id
from simulation.scenario import SCENARIO_DIR, ConfigError


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_form_with_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios: [baselines/core_led, baselines/platform]\nseeds: 8\n"
        "months: 12\nset:\n  population.n_smes: 500\n",
    )
    plan = load_experiment(path)
    assert plan.name == "exp"
    assert len(plan.specs) == 16
    assert [s.seed for s in plan.specs[:8]] == list(range(1, 9))
    assert [s.scenario for s in plan.specs] == ["baselines/core_led"] * 8 + [
        "baselines/platform"
    ] * 8
    assert all(s.months == 12 and s.config["population"]["n_smes"] == 500 for s in plan.specs)
    assert all(s.params == {"population.n_smes": 500} for s in plan.specs)
    assert len({s.run_id for s in plan.specs}) == 16
    assert len({s.scenario_id for s in plan.specs}) == 2


def test_issue_minimal_example_file() -> None:
    path = SCENARIO_DIR / "experiments" / "minimal.yaml"
    body = [line for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
    assert body == [
        "scenarios: [baselines/core_led, levers/guarantee_cap]",
        "seeds: 8",
        "months: 12",
        "set:",
        "  population.n_smes: 500",
    ]  # the issue's form
    plan = load_experiment("minimal")
    assert len(plan.specs) == 16
    assert {s.scenario for s in plan.specs} == {"baselines/core_led", "levers/guarantee_cap"}


@pytest.mark.parametrize(
    "path", sorted((SCENARIO_DIR / "experiments").glob("*.yaml")), ids=lambda p: p.stem
)
def test_shipped_examples_are_valid(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("description: ")
    plan = load_experiment(path)
    assert plan.specs and plan.description


def test_expansion_is_deterministic_and_ordered(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios: [baselines/core_led]\nseeds: [3, 1]\nmonths: 6\n"
        "sweep:\n  grid:\n    guarantor.per_firm_cap: [500, 1000]\n"
        "    core.whitelist: [false, true]\n",
    )
    a, b = load_experiment(path), load_experiment(path)
    assert [s.run_id for s in a.specs] == [s.run_id for s in b.specs]
    assert [(s.point, s.seed) for s in a.specs] == [(p, s) for p in range(4) for s in (3, 1)]
    assert [s.params for s in a.specs[::2]] == [
        {"guarantor.per_firm_cap": 500, "core.whitelist": False},
        {"guarantor.per_firm_cap": 500, "core.whitelist": True},
        {"guarantor.per_firm_cap": 1000, "core.whitelist": False},
        {"guarantor.per_firm_cap": 1000, "core.whitelist": True},
    ]
    assert a.specs[2].config["core"]["whitelist"] is True
    assert "guarantor.per_firm_cap=500" in a.specs[0].variant
    frame = a.frame()
    assert list(frame.columns[:8]) == [
        "experiment",
        "scenario",
        "variant",
        "point",
        "seed",
        "months",
        "run_id",
        "scenario_id",
    ]
    assert "param.core.whitelist" in frame.columns


def test_params_are_the_resolved_typed_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios: [baselines/core_led]\nseeds: 1\nmonths: 2\nset:\n"
        "  guarantor.per_firm_cap: 1000\nsweep:\n  grid:\n    core.whitelist: [false, true]\n"
        "    guarantor.fee_waiver_sectors: [[], [ai]]\n",
    )
    plan = load_experiment(path)
    assert [s.params["core.whitelist"] for s in plan.specs] == [False, False, True, True]
    assert plan.specs[1].params["guarantor.fee_waiver_sectors"] == ["ai"]
    assert plan.specs[0].params["guarantor.per_firm_cap"] == 1000.0
    frame = plan.frame()
    assert frame["param.core.whitelist"].dtype == bool
    assert plan.specs[3].variant == (
        "baselines/core_led core.whitelist=true,guarantor.fee_waiver_sectors=[ai]"
    )


def test_lhs_points_cover_every_stratum(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios: [baselines/core_led]\nseeds: 1\nmonths: 3\n"
        "sweep:\n  lhs:\n    points: 10\n    seed: 7\n    ranges:\n"
        "      core.data_sharing: [0.2, 0.7]\n      population.n_smes: [100, 109]\n",
    )
    plan = load_experiment(path)
    shares = sorted(s.params["core.data_sharing"] for s in plan.specs)
    assert [int((x - 0.2) / 0.05) for x in shares] == list(range(10))
    assert sorted(s.params["population.n_smes"] for s in plan.specs) == list(range(100, 110))
    assert all(isinstance(s.config["population"]["n_smes"], int) for s in plan.specs)
    assert plan.specs[0].variant == "baselines/core_led lhs#0"


@settings(max_examples=50, deadline=None)
@given(points=st.integers(1, 60), dims=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_latin_hypercube_one_point_per_stratum(points: int, dims: int, seed: int) -> None:
    unit = latin_hypercube(points, dims, seed)
    assert unit.shape == (points, dims)
    for column in unit.T:
        assert sorted(np.floor(column * points).astype(int)) == list(range(points))
    assert np.array_equal(unit, latin_hypercube(points, dims, seed))


def test_scenarios_resolve_beside_the_experiment(tmp_path: Path) -> None:
    write(tmp_path, "base: baselines/core_led\ncore:\n  data_sharing: 0.9\n", "mine.yaml")
    path = write(tmp_path, "scenarios: [mine]\nseeds: 1\nmonths: 2\n")
    plan = load_experiment(path)
    assert plan.specs[0].scenario == "mine"
    assert plan.specs[0].config["core"]["data_sharing"] == 0.9


def test_run_id_depends_on_config_seed_and_months_only(tmp_path: Path) -> None:
    write(tmp_path, "base: baselines/core_led\ndescription: other words\n", "same.yaml")
    path = write(tmp_path, "scenarios: [baselines/core_led, same]\nseeds: 2\nmonths: 4\n")
    specs = load_experiment(path).specs
    assert specs[0].run_id == specs[2].run_id  # description does not count
    assert specs[0].run_id != specs[1].run_id
    cfg = specs[0].config
    assert run_id(cfg, 1, 4) == specs[0].run_id
    assert run_id(cfg, 1, 5) != run_id(cfg, 1, 4)
    other = {**cfg, "core": {**cfg["core"], "data_sharing": 0.21}}
    assert run_id(other, 1, 4) != run_id(cfg, 1, 4)


def test_months_default_to_the_scenarios(tmp_path: Path) -> None:
    path = write(tmp_path, "scenarios: [baselines/core_led]\nseeds: 1\n")
    assert load_experiment(path).specs[0].months == 36
    write(tmp_path, "base: baselines/core_led\nmonths: 12\n", "short.yaml")
    path = write(tmp_path, "scenarios: [baselines/core_led, short]\nseeds: 1\n")
    with pytest.raises(ConfigError, match="different default horizons"):
        load_experiment(path)


BAD = {
    "seeds: 0": ("scenarios: [baselines/core_led]\nseeds: 0\n", "seeds: a count"),
    "dup seeds": ("scenarios: [baselines/core_led]\nseeds: [1, 1]\n", "seeds must be distinct"),
    "bool seeds": ("scenarios: [baselines/core_led]\nseeds: true\n", "seeds:"),
    "no scenarios": ("seeds: 2\n", "scenarios: missing"),
    "scenarios not a list": ("scenarios: baselines/core_led\nseeds: 2\n", "scenarios:"),
    "unknown field": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsets: {}\n",
        "sets: unknown field",
    ),
    "months range": ("scenarios: [baselines/core_led]\nseeds: 2\nmonths: 0\n", "months:"),
    "months float": (
        "scenarios: [baselines/core_led]\nseeds: 2\nmonths: 1.5\n",
        "months: must be a whole number",
    ),
    "set range": (
        "scenarios: [baselines/core_led]\nseeds: 2\nset:\n  guarantor.fee_rate: 5\n",
        "set: guarantor.fee_rate: must be >= 0 and <= 0.2 (got 5)",
    ),
    "set unknown path": (
        "scenarios: [baselines/core_led]\nseeds: 2\nset:\n  core.nope: 1\n",
        "set.core.nope: unknown parameter",
    ),
    "set months": (
        "scenarios: [baselines/core_led]\nseeds: 2\nset:\n  months: 3\n",
        "set.months: not a sweepable parameter",
    ),
    "unknown scenario": (
        "scenarios: [baselines/nope]\nseeds: 2\n",
        "scenarios[0]: baselines/nope: scenario not found",
    ),
    "grid and lhs": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  grid:\n"
        "    core.whitelist: [true]\n  lhs:\n    points: 2\n    ranges:\n"
        "      core.data_sharing: [0, 1]\n",
        "exactly one of grid or lhs",
    ),
    "grid value": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  grid:\n"
        "    core.data_sharing: [0.5, 2]\n",
        "sweep.grid: core.data_sharing: must be >= 0 and <= 1 (got 2)",
    ),
    "empty grid": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  grid:\n    core.data_sharing: []\n",
        "needs at least one value",
    ),
    "lhs order": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  lhs:\n    points: 2\n"
        "    ranges:\n      core.data_sharing: [0.9, 0.1]\n",
        "low must be below high (got [0.9, 0.1])",
    ),
    "lhs shape": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  lhs:\n    points: 2\n"
        "    ranges:\n      core.data_sharing: 0.5\n",
        "must be [low, high]",
    ),
    "lhs bool": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  lhs:\n    points: 2\n"
        "    ranges:\n      core.whitelist: [0, 1]\n",
        "needs a numeric parameter",
    ),
    "lhs range value": (
        "scenarios: [baselines/core_led]\nseeds: 2\nsweep:\n  lhs:\n"
        "    points: 2\n    ranges:\n      bank.max_pd: [0, 0.5]\n",
        "sweep.lhs.ranges: bank.max_pd: must be > 0",
    ),
    "too many runs": (
        "scenarios: [baselines/core_led]\nseeds: 100000\nsweep:\n  grid:\n"
        "    core.whitelist: [false, true]\n",
        "more than 100000",
    ),
    "yaml": ("scenarios: [baselines/core_led\nseeds: 2\n", "malformed YAML"),
    "not a mapping": ("[1, 2]\n", "must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_experiments_give_one_line_naming_file_and_field(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_missing_experiment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="experiment file not found"):
        load_experiment(tmp_path / "nothing.yaml")
