"""Loading a scenario file as the dashboard's policy, and the cost labels."""

from __future__ import annotations

import pytest

from dashboards.controls import Settings
from dashboards.i18n import has
from dashboards.policy import money, policy_settings
from simulation.costs import COST_ITEMS
from simulation.scenario import ConfigError, load_scenario, to_yaml


def test_a_scenario_file_sets_levers_population_and_horizon(tmp_path) -> None:
    cfg = load_scenario("levers/gov_data", {"population.n_smes": 300, "months": 12})
    path = tmp_path / "point.yaml"
    path.write_text(to_yaml(cfg), encoding="utf-8")
    s = policy_settings(Settings(baseline="chain:core_led"), path)
    assert s.levers["bank.gov_data"] is True and s.n_smes == 300 and s.months == 12
    assert s.baseline == "chain:core_led"  # the baseline stays
    with pytest.raises(ConfigError):
        policy_settings(Settings(), tmp_path / "missing.yaml")


def test_every_cost_item_has_a_label_and_small_costs_keep_a_decimal() -> None:
    assert all(has(f"cost_{k}") for k in (*COST_ITEMS, "total"))
    assert money(0.84) == "0.8" and money(1234.5) == "1,234" and money(2.0, True) == "+2.0"
