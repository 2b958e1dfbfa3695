"""Running a pair: shared seed, cached baseline, headline indicators and figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dashboards.controls import Settings, baseline_config, lever_values
from dashboards.figures import mix_figure, network_figure, paths_figure
from dashboards.layout import tier_layout
from dashboards.results import (
    INDICATORS,
    fmt_diff,
    fmt_value,
    headline,
    instrument_rates,
    instrument_volumes,
    network_graph,
    run_pair,
    status_matrix,
)
from simulation.metrics import STATUS, SUMMARY_KEYS


@pytest.fixture(scope="module")
def small() -> Settings:
    s = Settings(n_smes=150, months=8, seed=5)
    s.levers = lever_values(baseline_config(s))
    return s


def test_indicators_are_summary_keys():
    assert {k for k, _ in INDICATORS} <= set(SUMMARY_KEYS)


def test_pair_reuses_the_baseline_and_only_the_policy_moves(small):
    cache: dict = {}
    stages: list[str] = []
    first = run_pair(small, cache, on_stage=stages.append)
    assert stages == ["baseline", "policy"] and not first.baseline_cached
    assert headline(first.baseline) == headline(first.policy), "no lever moved yet"

    moved = Settings(
        **{**small.__dict__, "levers": {**small.levers, "core.confirm_willingness": 1.0}}
    )
    stages.clear()
    second = run_pair(moved, cache, on_stage=stages.append)
    assert stages == ["policy"] and second.baseline_cached
    assert second.baseline is first.baseline
    assert headline(second.policy) != headline(second.baseline)


def test_new_seed_reruns_the_baseline(small):
    cache: dict = {}
    run_pair(small, cache)
    other = Settings(**{**small.__dict__, "seed": small.seed + 1})
    assert not run_pair(other, cache).baseline_cached


def test_status_matrix_and_network_match_the_run(small):
    pair = run_pair(small)
    st = status_matrix(pair.policy)
    assert st.shape == (small.months, small.n_smes)
    assert set(np.unique(st)) <= set(STATUS)
    g = network_graph(pair.policy.config, small.seed)
    smes = [n for n, d in g.nodes(data=True) if d["kind"] == "sme"]
    assert sorted(smes) == list(range(small.n_smes))


def test_figures_build_in_both_languages(small):
    pair = run_pair(small)
    g = network_graph(pair.policy.config, small.seed)
    pos = tier_layout(g)
    st = status_matrix(pair.policy)
    for lang in ("en", "zh"):
        assert len(paths_figure(pair.baseline, pair.policy, lang).data) >= 2
        vols = instrument_volumes(pair.baseline), instrument_volumes(pair.policy)
        assert len(mix_figure(*vols, lang).data) == 2
        fig = network_figure(g, pos, st[-1], lang)
        shown = sum(len(tr.x) for tr in fig.data[1:-1])
        assert shown == small.n_smes


def test_instrument_bars_end_in_their_all_in_rates():
    s = Settings(n_smes=150, months=8, seed=5)
    s.levers = {**lever_values(baseline_config(s)), "guarantor.fee_rate": 0.009}
    pair = run_pair(s)
    rates = instrument_rates(pair.baseline), instrument_rates(pair.policy)
    vols = instrument_volumes(pair.baseline), instrument_volumes(pair.policy)
    fig = mix_figure(*vols, "en", rates)
    guaranteed = "Guaranteed loan"
    for bar, r in zip(fig.data, rates, strict=True):
        text = dict(zip(bar.y, bar.text, strict=True))
        assert text[guaranteed] == f"{r['guaranteed_loan']:.2%}"
        for label, shown in text.items():
            assert shown == "" or shown.endswith("%"), (label, shown)
    # the study's fee cut (2.5% -> 0.9%) shows as a cheaper guaranteed loan
    assert rates[1]["guaranteed_loan"] < rates[0]["guaranteed_loan"]


def test_formats():
    assert fmt_value("pct", 0.3282) == "32.8%"
    assert fmt_diff("pct", 0.0365) == "+3.6 pp"
    assert fmt_value("money", 219771.86) == "219,772"
    assert fmt_diff("money", -1234.4) == "-1,234"
    assert fmt_value("x", 4.157) == "4.16x"
    assert fmt_value("pct", math.nan) == "–"


def test_estimate_scales_with_runs_smes_and_months(small):
    from dashboards.results import Pair, estimate_seconds

    assert estimate_seconds(None, small) is None
    last = Pair(small, None, None, seconds=2.0, baseline_cached=False)  # 2 runs took 2 s
    bigger = Settings(**{**small.__dict__, "n_smes": small.n_smes * 10})
    assert estimate_seconds(last, bigger) == pytest.approx(20.0)
    moved = Settings(**{**small.__dict__, "levers": {**small.levers, "core.whitelist": True}})
    assert estimate_seconds(last, moved) == pytest.approx(1.0)  # baseline cached: one run
