"""Hostile experiment and scenario files through the CLI: exit 2, at most 3 lines, no
traceback, nothing written, within seconds and bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analysis.cli import app
from analysis.experiment import load_experiment
from simulation import yaml_input
from simulation.scenario import ConfigError

GOOD = "description: ok\nscenarios: [baselines/core_led]\nseeds: 2\nmonths: 2\n"


def laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


GRID_40_5 = "".join(
    f"    {p}: [{', '.join(str(round(0.02 * i, 2)) for i in range(40))}]\n"
    for p in ("core.data_sharing", "core.confirm_willingness", "core.whitelist_share",
              "core.bill_pass_share", "guarantor.coverage")
)

# name: (file bytes, a fragment of the one line)
EXPERIMENTS: dict[str, tuple[bytes, str]] = {
    "alias bomb in description": (
        (laughs() + "description: *l9\nscenarios: [baselines/core_led]\nseeds: 1\n").encode(),
        "after expanding aliases",
    ),
    "alias bomb in set": (
        (laughs() + "scenarios: [baselines/core_led]\nseeds: 1\nset: {x: *l9}\n").encode(),
        "after expanding aliases",
    ),
    "alias bomb in seeds": (
        (laughs() + "scenarios: [baselines/core_led]\nseeds: *l9\n").encode(),
        "after expanding aliases",
    ),
    "grid of 40^5 points": (
        ("scenarios: [baselines/core_led]\nseeds: 1\nsweep:\n  grid:\n" + GRID_40_5).encode(),
        "102400000 runs",
    ),
    "latin-1 text": (GOOD.replace("ok", "caf\xe9").encode("latin-1"), "not UTF-8 text"),
    "binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not UTF-8"),
    "5000-deep nesting": (("description: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "levels"),
    "5000-deep block nesting": (
        "".join("  " * i + f"k{i}:\n" for i in range(5000)).encode(), "too large"
    ),
    "duplicate key": ((GOOD + "seeds: 2000\n").encode(), "duplicate key 'seeds'"),
    "number as text": (
        (GOOD + "set:\n  population.n_smes: \"1000\"\n").encode(),
        "population.n_smes: must be >= 10 and <= 2,000,000, a whole number (got '1000')",
    ),
    "yes as a share": (
        (GOOD + "set:\n  core.data_sharing: yes\n").encode(),
        "core.data_sharing: must be >= 0 and <= 1, a number (got 'yes')",
    ),
    "true as a share": ((GOOD + "set:\n  core.data_sharing: true\n").encode(), "a number"),
    "fraction as a count": ((GOOD + "set:\n  population.n_smes: 100.5\n").encode(), "whole"),
    "text as lhs points": (
        (GOOD + "sweep:\n  lhs:\n    points: '5'\n    ranges: {core.data_sharing: [0, 1]}\n")
        .encode(),
        "sweep.lhs.points",
    ),
    "text in a range": (
        (GOOD + "sweep:\n  lhs:\n    points: 5\n    ranges: {core.data_sharing: ['0', 1]}\n")
        .encode(),
        "ranges",
    ),
    "sexagesimal months": (GOOD.replace("months: 2", "months: 1:00").encode(), "months"),
    "scenario outside the library": (
        GOOD.replace("baselines/core_led", "../../../../../../etc/passwd").encode(),
        "outside the scenario library",
    ),
    "yaml outside the library": (
        GOOD.replace("baselines/core_led", "../outside/secret").encode(),
        "outside the scenario library",
    ),
    "absolute scenario path": (
        GOOD.replace("baselines/core_led", "/tmp/elsewhere.yaml").encode(),
        "outside the scenario library",
    ),
}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def assert_one_clean_line(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert 1 <= err.count("\n") <= 3 and "Traceback" not in err, err
    assert err.startswith("error: ") and fragment in err, err


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_hostile_experiment_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    data, fragment = EXPERIMENTS[name]
    folder = tmp_path / "exp"
    folder.mkdir()
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.yaml"
    secret.write_text("description: not for you\n", encoding="utf-8")
    path = folder / "hostile.yaml"
    path.write_bytes(data)
    read: list[Path] = []
    real = yaml_input.read_text
    monkeypatch.setattr(yaml_input, "read_text", lambda p, *a: read.append(Path(p)) or real(p, *a))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        code, err = invoke("batch", str(path), "--out", str(tmp_path / "out"), "--workers", "0")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_clean_line(code, err, fragment)
    assert time.perf_counter() - start < 30  # seconds even on 2 busy cores (unbounded: minutes)
    assert peak < 200e6  # the unbounded versions grew to 2-8 GiB
    assert not (tmp_path / "out").exists()
    assert secret not in read  # refused before it was opened


def test_hostile_scenario_and_set_values_through_scf_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: baselines/core_led\nbase: baselines/platform\n", encoding="utf-8")
    out = tmp_path / "out"
    assert_one_clean_line(*invoke("run", str(bad), "--out", str(out)), "duplicate key 'base'")
    escape = tmp_path / "escape.yaml"
    escape.write_text("base: ../../../../../../../etc/hostname\n", encoding="utf-8")
    assert_one_clean_line(*invoke("run", str(escape)), "outside the scenario library")
    assert_one_clean_line(*invoke("run", "/etc/passwd"), "a scenario file ends in .yaml")
    for pair, fragment in (
        ("core.data_sharing=yes", "(got 'yes')"),
        ("population.n_smes=1e3", "a whole number (got 1000.0)"),
        ("months=true", "a whole number (got True)"),
        ("chain.sectors=*x", "chain.sectors"),
    ):
        assert_one_clean_line(
            *invoke("run", "baselines/core_led", "--set", pair, "--out", str(out)), fragment
        )
    assert not out.exists()


def test_ints_still_count_as_floats_and_set_values_are_typed() -> None:
    from simulation.scenario import load_scenario, parse_overrides

    cfg = load_scenario(
        "baselines/core_led",
        parse_overrides(["core.data_sharing=1", "population.n_smes=1_000", "bank.capital=1e4"]),
    )
    assert cfg.core.data_sharing == 1.0 and cfg.population.n_smes == 1000
    assert cfg.bank.capital == 10_000.0


keys = st.sampled_from(["description", "scenarios", "seeds", "months", "set", "sweep", "name"])
values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["baselines/core_led", "yes", "1e3", "*a", "&a x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(keys, values, max_size=6))
def test_generated_experiments_load_or_give_one_line(tmp_path: Path, doc: dict) -> None:
    import yaml

    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    try:
        plan = load_experiment(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(plan.specs) <= 100_000


@pytest.mark.parametrize("value", ["yes", "'1000'", "true"])
def test_schedule_values_are_as_strict_as_direct_ones(tmp_path: Path, value: str) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text(
        "base: baselines/core_led\nmonths: 6\nschedule:\n  - month: 3\n    set:\n"
        f"      guarantor.per_firm_cap: {value}\n",
        encoding="utf-8",
    )
    code, err = invoke("run", str(path), "--out", str(tmp_path / "out"))
    assert_one_clean_line(code, err, "schedule[0].set.guarantor.per_firm_cap: must be >= 0")
    assert not (tmp_path / "out").exists()
