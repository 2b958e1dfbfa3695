"""Evaluating configurations over paired seeds: the same numbers as run_one, a store as cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.evaluate import EvaluationError, Evaluator, check_metric, evaluate, require_ok
from analysis.store import load_summaries
from simulation.runner import run_one
from simulation.scenario import ConfigError, load_scenario


def configs():
    base = load_scenario("baselines/core_led", {"population.n_smes": 80})
    cap = load_scenario("levers/guarantee_cap", {"population.n_smes": 80})
    return base, cap


def test_rows_are_run_one_summaries_in_config_then_seed_order() -> None:
    base, cap = configs()
    frame = evaluate([base, cap], [1, 2], months=3, workers=0, labels=["base", "cap"])
    assert list(zip(frame["index"], frame.seed, strict=True)) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert list(frame.label) == ["base", "base", "cap", "cap"]
    direct = run_one(cap, 2, 3).summary
    row = frame.iloc[3]
    assert row.credit_access_rate == direct["credit_access_rate"]
    assert row["tier2.credit_access_rate"] == direct["by_group"]["tier2"]["credit_access_rate"]
    assert row.total_credit == pytest.approx(sum(direct["volume_by_instrument"].values()))
    assert (frame.status == "ok").all() and frame.months.eq(3).all()


def test_a_store_caches_runs_and_keeps_them_readable(tmp_path: Path) -> None:
    base, cap = configs()
    with Evaluator(tmp_path / "s", workers=0) as ev:
        first = ev.evaluate([base, cap], [1, 2], months=3, experiment="trial-0")
        assert ev.computed == 4
        again = ev.evaluate_pairs([cap, base], [(0, 2), (1, 1), (0, 2)], months=3)
        assert ev.computed == 4  # all read back
    assert list(again.credit_access_rate) == [
        first.credit_access_rate.iloc[3], first.credit_access_rate.iloc[0],
        first.credit_access_rate.iloc[3],
    ]  # fmt: skip
    stored = load_summaries(tmp_path / "s", "trial-0")
    assert sorted(stored.credit_access_rate) == sorted(first.credit_access_rate)


def test_failed_runs_come_back_as_data_and_require_ok_names_them() -> None:
    base, _ = configs()
    bad = base.model_copy(deep=True)
    object.__setattr__(bad.population, "n_smes", 1)  # bypasses validation: the model fails
    frame = evaluate([base, bad], [1], months=2, workers=0)
    assert list(frame.status) == ["ok", "failed"]
    with pytest.raises(EvaluationError, match="1 of 2 runs failed"):
        require_ok(frame)


def test_options_and_metrics_are_checked_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        Evaluator(workers=1, scheduler="tcp://x:1")
    with pytest.raises(ConfigError, match="must be >= 0"):
        Evaluator(workers=-1)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    with pytest.raises(ConfigError, match="not an scf results store"):
        Evaluator(tmp_path / "x")
    assert check_metric("tier2.credit_access_rate") == "tier2.credit_access_rate"
    with pytest.raises(ConfigError, match="--metric nope: not a summary metric"):
        check_metric("nope")


@pytest.mark.slow
def test_local_workers_give_the_same_numbers_as_this_process() -> None:
    base, cap = configs()
    serial = evaluate([base, cap], [1, 2], months=3, workers=0)
    dask = evaluate([base, cap], [1, 2], months=3, workers=2)
    assert list(serial.credit_access_rate) == list(dask.credit_access_rate)
    assert list(serial.public_cost) == list(dask.public_cost)
