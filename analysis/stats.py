"""The statistics of paired counterfactuals: t-intervals of a mean and of paired differences,
beside the unpaired (Welch) width the same runs would give. Pure functions of arrays."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def _t_half(sd: float, n: int, df: float, confidence: float) -> float:
    if n < 2 or not math.isfinite(df) or df <= 0:
        return math.nan
    if sd == 0.0:
        return 0.0
    return float(stats.t.ppf(0.5 + confidence / 2, df) * sd)


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean of `values` and the t-interval of that mean: (mean, low, high); the interval is the
    mean itself for fewer than 2 values."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = _t_half(float(v.std(ddof=1)) / math.sqrt(len(v)), len(v), len(v) - 1, confidence)
    return mean, mean - half, mean + half


def paired_stats(
    baseline: np.ndarray, policy: np.ndarray, confidence: float = CONFIDENCE
) -> dict[str, float]:
    """Mean, t-interval and relative change of policy - baseline, paired element by element.

    Also the half-width the same values would give as two unpaired samples (Welch's interval),
    so the gain from pairing can be stated. Pairs where either value is missing are dropped.
    """
    base = np.asarray(baseline, dtype=float)
    pol = np.asarray(policy, dtype=float)
    keep = np.isfinite(base) & np.isfinite(pol)
    base, pol = base[keep], pol[keep]
    n = len(base)
    out = {"n": n, "baseline_mean": math.nan, "policy_mean": math.nan, "diff_mean": math.nan}
    out |= {"ci_low": math.nan, "ci_high": math.nan, "rel_change": math.nan}
    out |= {"paired_halfwidth": math.nan, "unpaired_halfwidth": math.nan}
    if n == 0:
        return out
    diff = pol - base
    mean = float(diff.mean())
    out.update(baseline_mean=float(base.mean()), policy_mean=float(pol.mean()), diff_mean=mean)
    if mean == 0.0:
        out["rel_change"] = 0.0
    elif out["baseline_mean"] != 0.0:
        out["rel_change"] = mean / abs(out["baseline_mean"])
    if n < 2:
        return out
    half = _t_half(float(diff.std(ddof=1)) / math.sqrt(n), n, n - 1, confidence)
    out.update(ci_low=mean - half, ci_high=mean + half, paired_halfwidth=half)
    v1, v2 = float(base.var(ddof=1)) / n, float(pol.var(ddof=1)) / n
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / ((v1**2 + v2**2) / (n - 1)) if se > 0 else math.inf
    out["unpaired_halfwidth"] = 0.0 if se == 0 else _t_half(se, n, df, confidence)
    return out
