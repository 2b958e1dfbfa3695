"""The results store: atomic files, content-addressed runs, failures, plans and the loaders."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.experiment import load_experiment
from analysis.store import (
    Store,
    flatten_summary,
    load_failures,
    load_monthly,
    load_parameters,
    load_plan,
    load_summaries,
)
from simulation.scenario import ConfigError


def fake_monthly(seed: int, months: int) -> pd.DataFrame:
    rows = [
        {
            "month": m,
            "group": g,
            "credit_access_rate": seed / 10 + m / 100,
            "lost_output": float(seed * m),
        }
        for m in range(1, months + 1)
        for g in ("all", "tier1")
    ]
    return pd.DataFrame(rows)


def fake_summary(seed: int) -> dict:
    return {
        "credit_access_rate": seed / 10,
        "lost_output": 3.5 * seed,
        "bank_npl_ratio": None,
        "volume_by_instrument": {"credit_loan": 10.0 * seed, "guaranteed_loan": 1.0},
        "by_group": {
            "tier1": {"credit_access_rate": seed / 20, "volume_by_instrument": {"credit_loan": 2.0}}
        },
    }


@pytest.fixture
def plan(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "description: two scenarios\nscenarios: [baselines/core_led, "
        "baselines/platform]\nseeds: 3\nmonths: 2\n",
        encoding="utf-8",
    )
    return load_experiment(path)


def fill(store: Store, plan, fail_seed: int | None = None) -> None:
    store.write_plan(plan.name, plan.description, plan.source_text, plan.frame())
    for spec in plan.specs:
        if spec.seed == fail_seed:
            store.write_failure(spec.meta(), "ValueError: boom", "Traceback ...\nValueError")
        else:
            store.write_run(
                spec.meta(), fake_monthly(spec.seed, spec.months), fake_summary(spec.seed)
            )


def digest(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "runs").glob("*.parquet"))
    }


def test_flatten_summary_names_groups_and_instruments() -> None:
    flat = flatten_summary(fake_summary(2))
    assert flat["credit_access_rate"] == 0.2
    assert flat["volume_by_instrument.credit_loan"] == 20.0
    assert flat["tier1.credit_access_rate"] == 0.1
    assert flat["tier1.volume_by_instrument.credit_loan"] == 2.0
    assert "by_group" not in flat
    assert math.isnan(flat["bank_npl_ratio"])  # None (not measurable) becomes NaN


def test_store_layout_and_loaders(tmp_path: Path, plan) -> None:
    store = Store.create(tmp_path / "res")
    fill(store, plan, fail_seed=3)
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [
        "experiments",
        "failed",
        "runs",
        "store.json",
        "tmp",
    ]
    assert len(store.done_ids()) == 4 and len(store.failed_ids()) == 2
    assert not list((tmp_path / "res" / "tmp").iterdir())

    summaries = load_summaries(tmp_path / "res")
    assert len(summaries) == 6
    ok = summaries[summaries.status == "ok"]
    assert set(ok.seed) == {1, 2}
    assert list(ok["tier1.credit_access_rate"]) == [0.05, 0.1, 0.05, 0.1]
    assert list(ok.scenario) == ["baselines/core_led"] * 2 + ["baselines/platform"] * 2
    bad = summaries[summaries.status == "failed"]
    assert list(bad.error) == ["ValueError: boom"] * 2
    assert bad["credit_access_rate"].isna().all()

    monthly = load_monthly(tmp_path / "res")
    assert len(monthly) == 4 * 2 * 2
    assert {
        "experiment",
        "scenario",
        "scenario_id",
        "seed",
        "month",
        "group",
        "credit_access_rate",
    } <= set(monthly.columns)
    one = monthly[(monthly.seed == 2) & (monthly.scenario == "baselines/platform")]
    pd.testing.assert_frame_equal(
        one[["month", "group", "credit_access_rate", "lost_output"]].reset_index(drop=True),
        fake_monthly(2, 2),
    )

    params = load_parameters(tmp_path / "res")
    assert len(params) == 2
    assert set(params["chain.type"]) == {"core_led", "platform"}
    assert "description" not in params.columns

    failures = load_failures(tmp_path / "res")
    assert list(failures.seed) == [3, 3] and failures.traceback[0].startswith("Traceback")
    assert set(load_plan(tmp_path / "res").status) == {"ok", "failed"}


def test_run_files_are_self_describing_and_byte_identical(tmp_path: Path, plan) -> None:
    a, b = Store.create(tmp_path / "a"), Store.create(tmp_path / "b")
    fill(a, plan)
    for spec in reversed(plan.specs):  # another order, as another worker count would give
        b.write_run(spec.meta(), fake_monthly(spec.seed, spec.months), fake_summary(spec.seed))
    assert digest(a.root) == digest(b.root)
    spec = plan.specs[0]
    meta = json.loads(pq.read_schema(a.root / "runs" / f"{spec.run_id}.parquet").metadata[b"scf"])
    assert meta["seed"] == spec.seed and meta["months"] == 2
    assert meta["config"] == spec.config and meta["summary"]["lost_output"] == 3.5
    table = pq.read_table(a.root / "runs" / f"{spec.run_id}.parquet").to_pandas()
    assert list(table.columns[:5]) == ["run_id", "scenario_id", "seed", "month", "group"]


def test_a_stored_run_replaces_its_failure(tmp_path: Path, plan) -> None:
    store = Store.create(tmp_path / "res")
    fill(store, plan, fail_seed=1)
    spec = plan.specs[0]
    store.write_run(spec.meta(), fake_monthly(1, 2), fake_summary(1))
    assert spec.run_id in store.done_ids() and spec.run_id not in store.failed_ids()
    assert not (store.root / "failed" / f"{spec.run_id}.json").exists()


def test_interrupted_writes_leave_nothing_visible(tmp_path: Path, plan) -> None:
    store = Store.create(tmp_path / "res")
    fill(store, plan)
    spec = plan.specs[0]

    def crash(path: Path) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    target = store.root / "runs" / "deadbeef.parquet"
    with pytest.raises(KeyboardInterrupt):
        store._atomic(target, crash)
    assert not target.exists() and not list((store.root / "tmp").iterdir())
    # what a kill -9 leaves (the cleanup above never ran): a stray file under tmp/ only
    (store.root / "tmp" / f"{spec.run_id}.parquet.123.abc").write_bytes(b"PAR1 half")
    assert len(load_summaries(store.root)) == len(plan.specs)
    assert store.clean_tmp() == 1


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "res")
    with (
        store.lock(),
        pytest.raises(ConfigError, match="another scf batch"),
        Store.open(tmp_path / "res").lock(),
    ):
        pass
    with store.lock():  # released again
        pass


def test_targets_that_are_not_stores_are_refused(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="not an scf results store"):
        Store.create(tmp_path / "full")
    with pytest.raises(ConfigError, match="not an scf results store"):
        Store.open(tmp_path / "full")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        Store.create(tmp_path / "file")
    Store.create(tmp_path / "empty")  # empty or absent is fine
    with pytest.raises(ConfigError, match="no experiment named 'other'"):
        load_summaries(tmp_path / "empty", "other")


def test_runs_shared_by_two_experiments_appear_under_each(tmp_path: Path, plan) -> None:
    store = Store.create(tmp_path / "res")
    fill(store, plan)
    other = plan.frame().iloc[:3].assign(experiment="again")
    store.write_plan("again", "", "", other)
    summaries = load_summaries(store.root)
    assert sorted(summaries.experiment.unique()) == ["again", "exp"]
    assert len(summaries) == len(plan.specs) + 3
    assert len(load_summaries(store.root, "again")) == 3
    assert len(load_monthly(store.root, "again")) == 3 * 2 * 2
