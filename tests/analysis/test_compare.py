"""Paired comparisons: frames, names, value for money and the CLI (the arithmetic: test_stats)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.compare import compare_frames, compare_store, value_for_money
from analysis.experiment import load_experiment
from analysis.store import Store
from simulation.scenario import ConfigError

# ----------------------------------------------------------------------------- frames


def summaries_frame(spec: dict[str, dict[int, float]], months: int = 12) -> pd.DataFrame:
    """A frame shaped like `load_summaries`: scenario -> seed -> credit access."""
    rows = []
    for i, (scenario, by_seed) in enumerate(spec.items()):
        for seed, access in by_seed.items():
            rows.append(
                {
                    "experiment": "exp",
                    "scenario": scenario,
                    "variant": scenario,
                    "point": 0,
                    "seed": seed,
                    "months": months,
                    "run_id": f"{scenario}-{seed}",
                    "scenario_id": f"sid{i}",
                    "status": "ok",
                    "error": None,
                    "credit_access_rate": access,
                    "lost_output": 100.0 - 100 * access,
                    "financing_gap": 50.0 - 40 * access,
                    "public_cost": 10.0 * i,
                    "volume_by_instrument.credit_loan": 1000 * access,
                    "volume_by_instrument.guaranteed_loan": 10.0 * seed,
                    "tier1.credit_access_rate": access / 2,
                    "tier1.volume_by_instrument.credit_loan": 100.0,
                    "ledger_residual": 1e-9 * seed,
                }
            )
    return pd.DataFrame(rows)


SPEC = {
    "base": {1: 0.30, 2: 0.40, 3: 0.50},
    "pol": {1: 0.32, 2: 0.43, 3: 0.52},
}


def test_every_metric_and_group_is_compared_by_seed() -> None:
    c = compare_frames(summaries_frame(SPEC), "base", ["pol"])
    row = c.get("pol", "credit_access_rate")
    assert row["diff_mean"] == pytest.approx((0.02 + 0.03 + 0.02) / 3)
    assert c.get("pol", "credit_access_rate", "tier1")["diff_mean"] == pytest.approx(0.07 / 6)
    # derived: total credit = sum of the instrument volumes, for each group
    assert c.get("pol", "total_credit")["diff_mean"] == pytest.approx(1000 * 0.07 / 3)
    assert c.get("pol", "total_credit", "tier1")["diff_mean"] == 0.0
    assert "ledger_residual" not in set(c.table.metric)
    assert c.pairings["pol"].seeds == [1, 2, 3]
    # pairing removes the seed-to-seed spread the two scenarios share
    assert row["paired_halfwidth"] < row["unpaired_halfwidth"] / 5
    assert c.narrowing("pol") > 0.5


def test_comparing_a_scenario_with_itself_gives_zero_everywhere() -> None:
    c = compare_frames(summaries_frame(SPEC), "base", ["base"])
    numeric = c.table[["diff_mean", "ci_low", "ci_high", "paired_halfwidth", "rel_change"]]
    assert (numeric.to_numpy() == 0.0).all()


def test_only_common_seeds_are_paired() -> None:
    spec = {"base": {1: 0.3, 2: 0.4, 3: 0.5}, "pol": {2: 0.45, 3: 0.5, 4: 0.9}}
    c = compare_frames(summaries_frame(spec), "base", ["pol"])
    assert c.pairings["pol"].seeds == [2, 3] and c.pairings["pol"].unpaired_seeds == [1, 4]
    assert c.get("pol", "credit_access_rate")["diff_mean"] == pytest.approx(0.025)


@pytest.mark.parametrize(
    "baseline, policies, fragment",
    [
        ("nope", ["pol"], "no scenario named 'nope' in the store (available: base, pol)"),
        ("base", ["nope"], "no scenario named 'nope' in the store (available: base, pol)"),
        ("base", [], "give at least one --policy"),
    ],
)
def test_bad_names_are_one_line_errors_listing_what_is_there(baseline, policies, fragment) -> None:
    with pytest.raises(ConfigError) as err:
        compare_frames(summaries_frame(SPEC), baseline, policies)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_sweep_variants_are_named_by_variant_and_counted_in_errors() -> None:
    frame = summaries_frame(SPEC)
    frame.loc[frame.scenario == "pol", "variant"] = "pol x=1"
    c = compare_frames(frame, "base", ["pol x=1"])
    assert c.get("pol x=1", "credit_access_rate")["diff_mean"] == pytest.approx(0.07 / 3)
    with pytest.raises(ConfigError, match=r"available: base, pol; and 1 sweep variants such as"):
        compare_frames(frame, "base", ["nope"])


def test_policy_patterns_expand_over_the_stored_scenarios() -> None:
    spec = {"base": {1: 0.3}, "lev/a": {1: 0.4}, "lev/b": {1: 0.5}, "other": {1: 0.2}}
    c = compare_frames(summaries_frame(spec), "base", ["lev/*", "other", "lev/a", "*"])
    assert c.policies == ["lev/a", "lev/b", "other"]  # in store order, once, never the baseline
    with pytest.raises(ConfigError, match=r"--policy x/\* matches no scenario .*available: base"):
        compare_frames(summaries_frame(spec), "base", ["x/*"])


def test_unpairable_runs_are_refused() -> None:
    frame = summaries_frame(SPEC)
    frame.loc[frame.scenario == "pol", "months"] = 24
    with pytest.raises(ConfigError, match="same horizon"):
        compare_frames(frame, "base", ["pol"])
    other = summaries_frame({"base": {1: 0.3}, "pol": {2: 0.4}})
    with pytest.raises(ConfigError, match="share no seed"):
        compare_frames(other, "base", ["pol"])


def test_a_name_with_several_configurations_asks_for_a_choice() -> None:
    frame = summaries_frame(SPEC)
    again = frame[frame.scenario == "pol"].assign(experiment="exp2", scenario_id="other")
    again["run_id"] = again.run_id + "-b"
    with pytest.raises(ConfigError, match="--experiment"):
        compare_frames(pd.concat([frame, again]), "base", ["pol"])


def test_value_for_money_ranks_free_gains_first_then_gain_per_unit_cost() -> None:
    spec = {
        "base": {1: 0.3, 2: 0.4},
        "cheap": {1: 0.35, 2: 0.45},  # public cost +10, lost output avoided 5: 0.5 a unit
        "dear": {1: 0.4, 2: 0.5},  # public cost +40 (set below), avoided 10: 0.25 a unit
        "worse": {1: 0.2, 2: 0.3},  # public cost +30, a loss
    }
    frame = summaries_frame(spec)
    frame.loc[frame.scenario == "dear", "public_cost"] = 40.0
    free = frame[frame.scenario == "base"].assign(scenario="free", variant="free")
    free = free.assign(run_id=free.run_id + "f", scenario_id="free", credit_access_rate=0.5)
    free["lost_output"] = 100.0 - 100 * free.credit_access_rate
    c = compare_frames(pd.concat([frame, free]), "base", ["worse", "dear", "cheap", "free"])
    vfm = value_for_money(c)
    assert list(vfm.policy) == ["free", "cheap", "dear", "worse"]
    assert list(vfm["rank"]) == [1, 2, 3, 4]
    cheap = vfm.set_index("policy").loc["cheap"]
    assert cheap.lost_output_avoided == pytest.approx(5.0)
    assert cheap.output_per_public_cost == pytest.approx(5.0 / 10.0)
    assert math.isnan(vfm.set_index("policy").loc["free", "output_per_public_cost"])
    by_credit = compare_frames(frame, "base", ["dear", "cheap"], rank_by="credit")
    assert list(by_credit.value_for_money().policy) == ["cheap", "dear"]  # 5 vs 2.5 a unit


def test_json_is_strict_and_complete() -> None:
    c = compare_frames(summaries_frame(SPEC), "base", ["pol", "base"])
    data = json.loads(json.dumps(c.to_json(), allow_nan=False))
    assert data["baseline"] == "base" and data["policies"] == ["pol", "base"]
    assert data["money_unit"] == "10k CNY" and data["confidence"] == 0.95
    first = data["comparisons"][0]
    assert set(first) >= {"policy", "seeds", "months", "unpaired_seeds", "metrics", "narrowing"}
    assert set(first["metrics"][0]) == {
        "metric", "group", "n", "baseline_mean", "policy_mean", "diff_mean", "ci_low",
        "ci_high", "rel_change", "paired_halfwidth", "unpaired_halfwidth",
    }  # fmt: skip
    assert {r["policy"] for r in data["value_for_money"]} == {"pol", "base"}


# ----------------------------------------------------------------------------- a real store


def fake_store(root: Path, tmp_path: Path, scenarios: str, seeds: int = 3) -> Path:
    """A store whose runs are fakes (no simulation): access rises with the seed and the lever."""
    path = tmp_path / "exp.yaml"
    path.write_text(f"scenarios: [{scenarios}]\nseeds: {seeds}\nmonths: 3\n", encoding="utf-8")
    plan = load_experiment(path)
    store = Store.create(root)
    store.write_plan(plan.name, plan.description, plan.source_text, plan.frame())
    for spec in plan.specs:
        lever = 0.05 if "levers/" in spec.scenario else 0.0
        access = 0.2 + spec.seed / 20 + lever
        group = {"credit_access_rate": access, "avg_cost_of_funds": 0.08 - lever / 10}
        monthly = pd.DataFrame(
            [
                {
                    "month": m,
                    "group": g,
                    **group,
                    "financing_gap": 80.0 - m,
                    "lost_output": 9.0 - m,
                    "guarantor_leverage": m / 2 if g == "all" else None,
                    "guarantee_payout_rate": 0.01 * m if g == "all" else None,
                }
                for m in range(1, 4)
                for g in ("all", "tier1", "tier2", "distributor")
            ]
        )
        summary = {
            **group,
            "lost_output": 100 * (1 - access),
            "financing_gap": 80 * (1 - access),
            "sme_defaults": 4.0 - spec.seed,
            "public_cost": 10.0 * lever,
            "volume_by_instrument": {"credit_loan": 300 * access, "guaranteed_loan": 20.0},
            "rate_by_instrument": {"credit_loan": 0.09 - lever / 10, "guaranteed_loan": None},
            "by_group": {g: dict(group) for g in ("tier1", "tier2", "distributor")},
        }
        store.write_run(spec.meta(), monthly, summary)
    return root


def test_compare_store_pairs_by_seed_and_flags_a_different_population(tmp_path: Path) -> None:
    root = fake_store(
        tmp_path / "res", tmp_path, "baselines/core_led, levers/guarantee_cap, baselines/platform"
    )
    c = compare_store(root, "baselines/core_led", ["levers/guarantee_cap", "baselines/platform"])
    assert c.get("levers/guarantee_cap", "credit_access_rate")["diff_mean"] == pytest.approx(0.05)
    assert c.pairings["levers/guarantee_cap"].population_differs == []
    assert "chain.type" in c.pairings["baselines/platform"].population_differs
    assert set(c.parameters.scenario_id) == set(c.runs.scenario_id)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_table_and_bad_names(tmp_path: Path) -> None:
    root = str(fake_store(tmp_path / "res", tmp_path, "baselines/core_led, levers/guarantee_cap"))
    code, out, err = cli(
        "compare", root, "-b", "baselines/core_led", "-p", "levers/guarantee_cap", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["comparisons"][0]["seeds"] == [1, 2, 3]
    code, out, err = cli("compare", root, "-b", "baselines/core_led", "-p", "levers/guarantee_cap")
    assert code == 0 and "levers/guarantee_cap minus baselines/core_led" in out
    assert "value for money" in out and "pairing by seed narrows" in out
    code, out, err = cli("compare", root, "-b", "baselines/core_led", "-p", "levers/nope")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "levers/nope" in lines[0]
    assert "available: baselines/core_led, levers/guarantee_cap" in lines[0]
    code, _, err = cli("compare", str(tmp_path), "-b", "a", "-p", "b")
    assert code == 2 and "not an scf results store" in err
    code, _, err = cli(
        "compare", root, "-b", "baselines/core_led", "-p", "levers/guarantee_cap", "--rank-by", "x"
    )
    assert code == 2 and "--rank-by" in err


def test_value_for_money_counts_every_levers_cost_on_the_model(tmp_path) -> None:
    """The one-stop entry and government data cost the public money to run: not 'free'."""
    from analysis.batch import run_plan

    spec = tmp_path / "e.yaml"
    spec.write_text(
        "description: x\nscenarios: [baselines/core_led, levers/one_stop, levers/gov_data]\n"
        "seeds: 2\nmonths: 4\nset:\n  population.n_smes: 100\n",
        encoding="utf-8",
    )
    run_plan(load_experiment(spec), tmp_path / "s", workers=0, progress=False)
    c = compare_store(tmp_path / "s", "baselines/core_led", ["levers/one_stop", "levers/gov_data"])
    vfm = c.value_for_money().set_index("policy")
    items = [c for c in vfm.columns if c.startswith("public_cost_")]
    for policy, item in (("levers/one_stop", "one_stop"), ("levers/gov_data", "gov_data")):
        row = vfm.loc[policy]
        assert row[f"public_cost_{item}"] > 0  # its running cost is counted, never free
        assert row.public_cost == pytest.approx(row[items].sum())  # ... in the total
    one_stop = vfm.loc["levers/one_stop"]
    assert one_stop.public_cost > 0
    assert math.isfinite(one_stop.output_per_public_cost)  # ranked by its cost, not as free
    # (banks that read government data leave fewer firms short, so the guarantor writes and
    # loses less: the platform's running cost can be more than offset, a saving, not a gift)
