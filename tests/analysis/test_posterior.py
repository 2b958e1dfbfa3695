"""Posterior outputs: summaries and flags, the calibrated scenario, predictive intervals, page."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.calibrate import calibrate
from analysis.posterior import (
    CALIBRATED,
    PREDICTIVE,
    correlations,
    draws,
    finish,
    interval,
    summarise,
    verdict,
    weighted_quantile,
)
from analysis.targets import load_targets
from simulation.scenario import ConfigError, load_scenario
from tests.analysis.test_targets import GOOD, write

FILE = copy.deepcopy(GOOD)
FILE.update(months=4, fitted=["rate"], held_out=["drop", "leverage"])
FILE["parameters"] = {"bank.margin": {"low": 0.005, "high": 0.04},
                      "bank.screening_sigma": {"low": 0.2, "high": 3.0}}
FILE["abc"] = {"population": 8, "budget": 30, "generations": 2, "seed": 5}
FILE["targets"][2] = {
    "name": "leverage", "study": ">= 5x", "line": "194", "value": 5.0, "bound": ">=",
    "unit": "x", "tolerance": 1.0,
    "quantity": {"scenario": "pkg", "metric": "guarantor_leverage", "month": 4},
}


def test_weighted_quantile_follows_the_weights():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert weighted_quantile(x, np.ones(4), 0.5) == pytest.approx(2.5)
    assert weighted_quantile(x, np.array([0, 0, 0, 1.0]), 0.5) == pytest.approx(4.0)


def _targets(tmp_path):
    return load_targets(write(tmp_path, FILE))


def test_a_posterior_as_wide_as_the_prior_is_flagged(tmp_path):
    targets = _targets(tmp_path)
    rng = np.random.default_rng(0)
    posterior = pd.DataFrame({
        "bank.margin": rng.uniform(0.005, 0.04, 500),  # as wide as the prior
        "bank.screening_sigma": rng.normal(1.0, 0.05, 500),  # pinned
        "weight": np.full(500, 1 / 500),
    })
    loose, tight = summarise(posterior, targets.priors)
    assert not loose.identified and loose.width_ratio > 0.9
    assert tight.identified and tight.low < 1.0 < tight.high
    ((a, b, r),) = correlations(posterior, targets.priors)
    assert {a, b} == {"bank.margin", "bank.screening_sigma"} and abs(r) < 0.2
    first = draws(posterior, ["bank.margin"], 5, seed=1)
    assert first == draws(posterior, ["bank.margin"], 5, seed=1) and len(first) == 5


def test_intervals_and_verdicts():
    mean, low, high = interval(np.arange(1, 101, dtype=float), 0.9)
    assert mean == 50.5 and low == pytest.approx(5.95) and high == pytest.approx(95.05)


def test_verdict_reads_thresholds_as_thresholds(tmp_path):
    targets = _targets(tmp_path)
    rate, _, leverage = targets.targets
    assert verdict(rate, 0.06, 0.07) == "inside" and verdict(rate, 0.067, 0.07) == "outside"
    assert verdict(leverage, 5.5, 7) == "meets" and verdict(leverage, 1, 2) == "misses"
    assert verdict(leverage, 4, 6) == "inside"


def test_finish_writes_posterior_scenario_predictive_and_page(tmp_path):
    targets = _targets(tmp_path)
    out = tmp_path / "out"
    calibrate(targets, out)
    done = finish(targets, out, n_draws=3, n_seeds=2)
    # the calibrated scenario is a valid scenario at the posterior medians
    cfg = load_scenario(out / CALIBRATED)
    medians = {p.path: p.median for p in done.params}
    assert cfg.bank.margin == pytest.approx(medians["bank.margin"], rel=1e-5)
    assert "90% range" in (out / CALIBRATED).read_text()
    pred = pd.read_parquet(out / PREDICTIVE)
    assert len(pred) == 3 * 2 * 3 and set(pred.target) == {"rate", "drop", "leverage"}
    # paired: the drop is pre minus package on the same seed
    assert set(done.table.role) == {"fitted", "held_out"}
    page = (out / "calibration.html").read_text()
    assert "plotly" in page and "Held out" in page and "bank.screening_sigma" in page
    assert "cdn" not in page.split("<script")[0].lower()  # no network needed in the head


def _posterior_dir(tmp_path, name: str, **columns) -> Path:
    """A calibration directory whose posterior holds the given parameter values."""
    out = tmp_path / name
    out.mkdir()
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({**columns, "weight": np.full(n, 1 / n), "distance": 0.0,
                          "generation": 1})
    frame.to_parquet(out / "posterior.parquet", index=False)
    (out / "calibration.json").write_text(json.dumps({"fingerprint": {"seed": 0}}))
    return out


def test_replicate_over_posterior_draws_applies_each_draw(tmp_path):
    from analysis.posterior import replicate_posterior

    low = _posterior_dir(tmp_path, "low", **{"bank.margin": [0.01, 0.01]})
    high = _posterior_dir(tmp_path, "high", **{"bank.margin": [0.03, 0.03]})
    rows_low, runs = replicate_posterior(low, n_draws=2, seeds=2, months=12)
    rows_high, _ = replicate_posterior(high, n_draws=2, seeds=2, months=12)
    assert len(runs.pre) == 4 and all(r.config.bank.margin == 0.01 for r in runs.pre)
    assert all(r.config.bank.margin == 0.01 for r in runs.package)
    rate_low, rate_high = (next(r for r in rows if r.figure.target == 0.0663)
                           for rows in (rows_low, rows_high))
    assert len(rate_low.values) == 4 and rate_high.mean > rate_low.mean + 0.01
    assert rate_low.low <= rate_low.mean <= rate_low.high


def test_a_posterior_over_a_parameter_the_policy_sets_is_refused(tmp_path):
    from analysis.posterior import replicate_posterior

    fee = _posterior_dir(tmp_path, "fee", **{"guarantor.fee_rate": [0.01, 0.02]})
    with pytest.raises(ConfigError, match="sets guarantor.fee_rate to 0.009 and"):
        replicate_posterior(fee, n_draws=2, seeds=2, months=12)


def test_compare_over_posterior_draws_pairs_each_draw_and_seed(tmp_path):
    from analysis.batch import run_plan
    from analysis.compare import compare_store
    from analysis.evaluate import Evaluator
    from analysis.experiment import load_experiment
    from analysis.posterior import compare_posterior
    from simulation.runner import run_one
    from simulation.scenario import load_scenario

    spec = {"scenarios": ["packages/pre_policy", "packages/policy_package"], "seeds": 2,
            "months": 3, "set": {"population.n_smes": 100}}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "store"
    run_plan(load_experiment(tmp_path / "e.yaml"), store, workers=0, progress=False)
    comparison = compare_store(store, "packages/pre_policy", ["packages/policy_package"])
    fixed = _posterior_dir(tmp_path, "fixed", **{"bank.margin": [0.03, 0.03, 0.03]})
    with Evaluator(store, workers=0) as ev:
        frame = compare_posterior(store, comparison, fixed, 3, None, ev,
                                  ("credit_access_rate", "avg_loan_rate"))
    row = frame.set_index("metric").loc["avg_loan_rate"]
    assert (row.draws, row.seeds) == (3, 2)
    # every draw is margin 0.03: the paired differences are those of direct runs at 0.03
    over = {"population.n_smes": 100, "bank.margin": 0.03}
    direct = [run_one(load_scenario("packages/policy_package", over), s, 3).summary[
        "avg_loan_rate"] - run_one(load_scenario("packages/pre_policy", over), s, 3).summary[
        "avg_loan_rate"] for s in (1, 2)]
    assert row.diff_mean == pytest.approx(np.mean(direct))
    assert row.predictive_low <= row.diff_mean <= row.predictive_high


def test_the_committed_shanghai_calibration_is_consistent_with_its_targets_file():
    from analysis.calibrate import _check_out
    from analysis.posterior import parameter_paths
    from simulation.scenario import SCENARIO_DIR

    fit = SCENARIO_DIR / "calibration" / "shanghai_2020"
    if not (fit / "posterior.parquet").exists():
        pytest.skip("the Shanghai calibration has not been run and committed yet")
    targets = load_targets(SCENARIO_DIR / "calibration" / "shanghai_2020.yaml")
    posterior = pd.read_parquet(fit / "posterior.parquet")
    assert parameter_paths(posterior) == [p.path for p in targets.priors]
    assert posterior.weight.sum() == pytest.approx(1.0)
    cfg = load_scenario(fit / "calibrated.yaml").model_dump()
    for p in summarise(posterior, targets.priors):
        section, name = p.path.split(".")
        assert cfg[section][name] == pytest.approx(p.median, rel=1e-5)
    # the committed database is this file's calibration: the README command resumes from it
    assert _check_out(fit, targets)
