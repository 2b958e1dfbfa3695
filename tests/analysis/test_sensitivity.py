"""Sensitivity studies: ranges from the schema, the design as a batch plan, SALib's ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import report
from analysis.cli import app
from analysis.sensitivity import (
    Study,
    analyse,
    check_metric,
    load_result,
    make_study,
    parse_params,
    plan_of,
    resolve_ranges,
    run_study,
)
from simulation.scenario import PARAMETERS, ConfigError

A, B = "core.data_sharing", "core.confirm_willingness"


def test_params_take_the_schema_range_unless_given() -> None:
    assert parse_params("a.b, c.d=0.1:0.5") == {"a.b": None, "c.d": (0.1, 0.5)}
    ranges, kinds = resolve_ranges(parse_params(f"{A},guarantor.per_firm_cap=100:2000"))
    spec = PARAMETERS["core.data_sharing"]
    assert ranges[A] == (spec.ge, spec.le) == (0, 1)
    assert ranges["guarantor.per_firm_cap"] == (100.0, 2000.0)
    assert kinds == {A: "float", "guarantor.per_firm_cap": "float"}
    assert resolve_ranges({"payment.term_months": None})[1] == {"payment.term_months": "int"}


@pytest.mark.parametrize(
    "params, fragment",
    [
        ("core.whitelist", "numeric parameters only"),
        ("chain.type", "numeric parameters only"),
        ("core.nope", "unknown parameter"),
        ("population.pd_mean", "no closed range"),
        (f"{A}=0.5:0.2", "low must be below high"),
        (f"{A}=-1:0.5", "low end must be >= 0 and <= 1"),
        (f"{A}=0.1", "PATH=LOW:HIGH"),
        (f"{A}=a:b", "PATH=LOW:HIGH"),
        (" , ", "at least one parameter"),
    ],
)
def test_bad_params_are_one_line_errors(params: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_study("baselines/core_led", params)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_metric_is_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--metric nope: not a summary metric"):
        run_study(study(), tmp_path / "res", workers=0, progress=False, metric="nope")
    assert not (tmp_path / "res").exists()


def test_per_instrument_metrics_are_named_by_instrument() -> None:
    for ok in ("credit_access_rate", "volume_by_instrument.credit_loan",
               "rate_by_instrument.guaranteed_loan"):  # fmt: skip
        check_metric(ok)
    for whole in ("volume_by_instrument", "rate_by_instrument"):  # dicts, not one number
        with pytest.raises(ConfigError, match=f"--metric {whole}: not a summary metric"):
            check_metric(whole)


def test_bad_method_and_sample_sizes() -> None:
    with pytest.raises(ConfigError, match="one of morris, sobol"):
        make_study("baselines/core_led", A, method="fast")
    with pytest.raises(ConfigError, match="power of 2"):
        make_study("baselines/core_led", A, method="sobol", samples=12)
    with pytest.raises(ConfigError, match="also in --params"):
        make_study("baselines/core_led", A, overrides={A: 0.3})


def study(method: str = "morris", samples: int = 6) -> Study:
    return make_study(
        "baselines/core_led",
        f"{A},{B},payment.term_months=1:6",
        method=method,
        samples=samples,
        seeds=2,
        months=3,
        overrides={"population.n_smes": 50},
    )


def test_the_design_becomes_a_batch_plan_of_points_times_seeds() -> None:
    s = study()
    plan = plan_of(s)
    frame = plan.frame()
    assert len(frame) == (3 + 1) * 6 * 2  # Morris: (k + 1) x trajectories points, x seeds
    assert frame.groupby("point").seed.apply(list).map(tuple).unique().tolist() == [(1, 2)]
    assert frame["param.payment.term_months"].map(type).eq(int).all()  # integers rounded
    assert frame["param.population.n_smes"].eq(50).all()
    assert frame.variant.iloc[-1] == f"baselines/core_led morris#{len(s.design()) - 1}"
    assert Study.from_source(plan.source_text) == s  # the store alone can rebuild the design
    assert Study.from_source("scenarios: [a]") is None
    assert plan.name == "sensitivity-morris-baselines-core_led"
    sobol = plan_of(study("sobol", 8))
    assert len(sobol.specs) == 8 * (3 + 2) * 2


def fake_summaries(s: Study, effect: dict[str, float]) -> pd.DataFrame:
    """Summaries whose credit access is linear in the parameters (scaled to [0, 1])."""
    frame = plan_of(s).frame()
    frame["status"] = "ok"
    access = 0.0
    for path, weight in effect.items():
        low, high = s.ranges[path]
        access = access + weight * (frame[f"param.{path}"] - low) / (high - low)
    frame["credit_access_rate"] = access
    frame["tier1.credit_access_rate"] = access.max() - access  # reversed: same sizes
    return frame


def test_morris_ranks_the_parameter_that_moves_credit_access_most() -> None:
    s = study()
    idx = analyse(s, fake_summaries(s, {A: 0.3, B: 0.05, "payment.term_months": 0.0}))
    top = idx[idx.group == "all"].sort_values("rank")
    assert list(top.parameter[:2]) == [A, B]
    assert top.importance.iloc[0] == pytest.approx(0.3)  # mu*: the change across the range
    assert top.importance.iloc[1] == pytest.approx(0.05)
    assert set(idx.group) == {"all", "tier1"}  # groups the summaries carry
    with pytest.raises(ConfigError, match="not a summary metric"):
        analyse(s, fake_summaries(s, {A: 1.0}), metric="nope")


def test_sobol_ranks_by_total_order_index() -> None:
    s = study("sobol", 64)
    idx = analyse(s, fake_summaries(s, {A: 0.3, B: 0.1, "payment.term_months": 0.0}))
    top = idx[idx.group == "all"].sort_values("rank")
    assert list(top.parameter) == [A, B, "payment.term_months"]
    assert top.importance.iloc[0] > 0.8 and "ST" in idx and "S1" in idx


def test_missing_points_are_an_error_not_a_silent_ranking() -> None:
    s = study()
    frame = fake_summaries(s, {A: 1.0})
    with pytest.raises(ConfigError, match="have no finished run"):
        analyse(s, frame[frame.point != 3])


def test_a_real_study_runs_through_the_batch_runner_and_reloads(tmp_path: Path) -> None:
    s = make_study(
        "baselines/core_led",
        f"{A},{B}",
        samples=2,
        seeds=1,
        months=2,
        overrides={"population.n_smes": 40},
    )
    result, batch = run_study(s, tmp_path / "res", workers=0, progress=False)
    assert batch.failed_total == 0 and batch.planned <= (2 + 1) * 2
    assert set(result.indices.parameter) == {A, B}
    again = load_result(tmp_path / "res")
    pd.testing.assert_frame_equal(again.indices, result.indices)
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["method"] == "morris" and data["ranges"] == {A: [0.0, 1.0], B: [0.0, 1.0]}
    text = report.build(None, sensitivity=result)
    assert report.TITLES["sensitivity"] in text and "Headlines" not in text


def test_cli_sensitivity_json_and_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = ["sensitivity", "baselines/core_led", "--params", A, "--samples", "2", "--seeds", "1"]
    args += ["--months", "2", "--set", "population.n_smes=40", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--workers", "0", "--no-progress", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["indices"][0]["parameter"] == A
    bad_args = ["sensitivity", "baselines/core_led", "--params", "core.whitelist"]
    bad = CliRunner().invoke(app, [*bad_args, "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "numeric parameters only" in bad.stderr
    assert not (tmp_path / "x").exists()
