"""The statistics of paired comparisons, against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats import mean_interval, paired_stats

T_975_DF3 = 3.182446305284263  # Student t, two-sided 95%, 3 degrees of freedom (tables)


def test_paired_difference_against_a_hand_computed_case() -> None:
    base, policy = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 7.0]
    s = paired_stats(np.array(base), np.array(policy))
    # differences 1, 2, 0, 3: mean 1.5, sd sqrt(5/3), se sqrt(5/3)/2
    half = T_975_DF3 * math.sqrt(5 / 3) / 2
    assert s["n"] == 4
    assert s["baseline_mean"] == pytest.approx(2.5) and s["policy_mean"] == pytest.approx(4.0)
    assert s["diff_mean"] == pytest.approx(1.5)
    assert s["paired_halfwidth"] == pytest.approx(half, rel=1e-9)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((1.5 - half, 1.5 + half), rel=1e-9)
    assert s["rel_change"] == pytest.approx(0.6)
    # unpaired (Welch): variances 5/3 and 14/3 over n = 4
    v1, v2 = 5 / 3 / 4, 14 / 3 / 4
    df = (v1 + v2) ** 2 / ((v1**2 + v2**2) / 3)
    assert s["unpaired_halfwidth"] == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(v1 + v2))


def test_mean_interval_of_one_sample_by_hand() -> None:
    # 1, 2, 2, 3: mean 2, sd sqrt(2/3), half-width t(0.975, 3) * sd / 2
    mean, low, high = mean_interval(np.array([1.0, 2.0, 2.0, 3.0]))
    half = T_975_DF3 * math.sqrt(2 / 3) / 2
    assert mean == 2.0 and (low, high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-9)
    assert mean_interval(np.array([5.0])) == (5.0, 5.0, 5.0)
    assert mean_interval(np.array([4.0, 4.0])) == (4.0, 4.0, 4.0)


def test_pairs_with_a_missing_value_are_dropped_and_one_pair_has_no_interval() -> None:
    s = paired_stats(np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan]))
    assert s["n"] == 1 and s["diff_mean"] == 1.0 and math.isnan(s["ci_low"])


def test_self_comparison_is_exactly_zero_with_zero_width() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=12)
    s = paired_stats(x, x.copy())
    assert s["diff_mean"] == 0.0 and s["ci_low"] == 0.0 and s["ci_high"] == 0.0
    assert s["paired_halfwidth"] == 0.0 and s["rel_change"] == 0.0
    assert s["unpaired_halfwidth"] > 0  # the same runs unpaired leave a wide interval
