"""Shapley values: the arithmetic on known games, and on the model over paired seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.evaluate import Evaluator
from analysis.shapley import (
    all_coalitions,
    check_players,
    coalition_config,
    decompose,
    exact_shapley,
    join_orders,
    make_design,
    sampled_shapley,
)
from simulation.scenario import ConfigError, load_scenario


def game(weights: list[float], pair_bonus: float = 0.0):
    """Additive game plus a bonus when players 0 and 1 are both in (split equally by Shapley)."""

    def value(c: int) -> np.ndarray:
        v = sum(w for i, w in enumerate(weights) if c >> i & 1)
        if c & 0b11 == 0b11:
            v += pair_bonus
        return np.array([v, 2 * v])

    return value


def test_exact_values_of_a_known_game() -> None:
    phi = exact_shapley(3, game([1.0, 2.0, 4.0], pair_bonus=3.0))
    np.testing.assert_allclose(phi[:, 0], [2.5, 3.5, 4.0])
    np.testing.assert_allclose(phi[:, 1], [5.0, 7.0, 8.0])
    assert len(all_coalitions(4)) == 16


def test_symmetric_players_get_equal_values_and_a_null_player_nothing() -> None:
    def value(c: int) -> np.ndarray:  # a "both needed" game; player 2 does nothing
        return np.array([1.0 if c & 0b11 == 0b11 else 0.0])

    phi = exact_shapley(3, value)
    np.testing.assert_allclose(phi[:, 0], [0.5, 0.5, 0.0])


def test_sampled_values_sum_to_the_total_and_approach_the_exact_ones() -> None:
    weights = [0.5 * k for k in range(1, 11)]
    value = game(weights, pair_bonus=2.0)
    orders = join_orders(10, 400, np.random.default_rng(1))
    phi = sampled_shapley(10, value, orders)
    total = value((1 << 10) - 1) - value(0)
    np.testing.assert_allclose(phi.sum(axis=0), total)  # exact for every draw
    exact = np.array(weights) + np.r_[1.0, 1.0, np.zeros(8)]
    assert np.abs(phi[:, 0] - exact).max() < 0.25
    # antithetic pairs: an order, then its reverse
    assert orders[1] == orders[0][::-1]


def test_design_is_exact_up_to_the_limit_and_per_seed_beyond() -> None:
    exact = make_design(3, [1, 2])
    assert exact.exact and len(exact.pairs()) == 2 * 8
    sampled = make_design(9, [1, 2], orders=4, max_exact=8)
    assert not sampled.exact
    assert sampled.orders[1] != sampled.orders[2]  # each seed its own orders
    assert sampled.orders == make_design(9, [1, 2], orders=4, max_exact=8).orders  # reproducible
    assert make_design(9, [2], orders=4).orders[2] == sampled.orders[2]  # independent of others
    need = sampled.coalitions(1)
    assert {0, (1 << 9) - 1, *(1 << i for i in range(9))} <= set(need)


@pytest.mark.parametrize(
    "players, fragment",
    [
        ({}, "at least one player"),
        ({"a": {}}, "players.a: give at least one"),
        ({"a": {"core.nope": 1}}, "core.nope: unknown parameter"),
        ({"a": {"core.data_sharing": 0.5}, "b": {"core.data_sharing": 0.9}}, "also set by a"),
    ],
)
def test_bad_players_are_refused_in_one_line(players: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        check_players(players)
    assert "\n" not in str(info.value)


def test_a_coalition_is_the_base_with_its_players_overrides() -> None:
    base = load_scenario("baselines/core_led")
    players = {"cap": {"guarantor.per_firm_cap": 1000.0}, "data": {"bank.gov_data": True}}
    both = coalition_config(base, players, 0b11)
    assert both.guarantor.per_firm_cap == 1000.0 and both.bank.gov_data
    only_data = coalition_config(base, players, 0b10)
    assert only_data.guarantor.per_firm_cap == base.guarantor.per_firm_cap
    with pytest.raises(ConfigError, match="fee_rate"):
        coalition_config(base, {"x": {"guarantor.fee_rate": 5.0}}, 0b1)


def test_on_the_model_values_sum_to_the_package_effect_on_the_same_seeds() -> None:
    base = load_scenario("packages/pre_policy", {"population.n_smes": 150})
    players = {
        "cap": {"guarantor.per_firm_cap": 1000.0},
        "fee": {"guarantor.fee_rate": 0.009},
        "mandate": {"guarantor.leverage_max": 5.0, "guarantor.payout_tolerance": 0.05},
    }
    metrics = ["credit_access_rate", "tier2.credit_access_rate", "public_cost"]
    with Evaluator(workers=0) as ev:
        result = decompose(base, players, seeds=[1, 2, 3], months=6, metrics=metrics,
                           evaluator=ev)  # fmt: skip
        # the package alone, on the same seeds, evaluated apart
        package = coalition_config(base, players, 0b111)
        direct = ev.evaluate([base, package], [1, 2, 3], months=6)
    assert result.exact and result.runs == 8 * 3
    np.testing.assert_allclose(result.per_seed.sum(axis=1), result.total, atol=1e-12)
    for m, metric in enumerate(metrics):
        effect = (direct[direct["index"] == 1][metric].to_numpy()
                  - direct[direct["index"] == 0][metric].to_numpy())  # fmt: skip
        np.testing.assert_allclose(result.total[:, m], effect, atol=1e-12)
    totals = result.totals.set_index("metric")
    assert totals.loc["public_cost", "shapley_sum"] == pytest.approx(
        totals.loc["public_cost", "total"]
    )
    table = result.table
    assert set(table.player) == set(players)
    row = table.iloc[0]
    assert row.ci_low <= row.value <= row.ci_high
    share = totals.loc["credit_access_rate", "interaction_share"]
    assert math.isnan(share) or math.isfinite(share)


def test_sampled_decomposition_on_the_model_still_sums_per_seed() -> None:
    base = load_scenario("baselines/core_led", {"population.n_smes": 100})
    players = {
        "cap": {"guarantor.per_firm_cap": 1000.0},
        "fee": {"guarantor.fee_rate": 0.009},
        "data": {"core.data_sharing": 0.8},
    }
    result = decompose(base, players, seeds=[1, 2], months=4, max_exact=2, orders=2,
                       workers=0)  # fmt: skip
    assert not result.exact and result.orders == 2
    np.testing.assert_allclose(result.per_seed.sum(axis=1), result.total, atol=1e-12)
