"""The year 2020 split into drift, macro conditions and the package (analysis/year2020.py)."""

import numpy as np
import pytest

from analysis.year2020 import FIGURES, GROUPS, coalition_config, decompose_year
from simulation.scenario import load_scenario, with_overrides


@pytest.fixture(scope="module")
def small_year():
    cfg = with_overrides(load_scenario("packages/shanghai_2020"), {"population.n_smes": 300})
    return cfg, decompose_year(2, cfg)


def test_the_2020_scenario_tags_every_change_macro_or_package(small_year):
    cfg, _ = small_year
    assert {c.group for c in cfg.schedule} == set(GROUPS)
    assert coalition_config(cfg, ()).schedule == []
    macro = coalition_config(cfg, ("macro",))
    assert macro.schedule and all(c.group == "macro" for c in macro.schedule)
    assert cfg.at_month(12).bank.funding_rate == 0.025  # 2019: nothing changed yet
    assert cfg.at_month(16).bank.funding_rate == 0.022  # April 2020: LPR 3.85%
    assert cfg.at_month(13).guarantor.leverage_floor == 5.0


def test_the_parts_add_up_to_the_total_on_every_seed(small_year):
    _, parts = small_year
    assert [f.label for f, _ in parts] == [f.label for f in FIGURES]
    for f, ps in parts:
        by = {p.name: p.values for p in ps}
        assert set(by) == {"total", "drift", *GROUPS}
        assert np.allclose(by["total"], by["drift"] + by["macro"] + by["package"]), f.label
        assert np.isfinite(by["total"]).all()


def test_the_package_and_macro_conditions_lower_the_loan_rate(small_year):
    _, parts = small_year
    rate = {p.name: p.values for f, ps in parts if f.unit == "pt" for p in ps}
    assert (rate["macro"] < 0).all(), rate["macro"]  # the LPR cuts reach the loan rate
    assert (rate["package"] < 0).all(), rate["package"]


def test_decomposition_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        decompose_year(1)
