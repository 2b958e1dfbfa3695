"""Scenario discovery: PRIM recovers a box planted in a synthetic store; bad input, one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.discover import discover_store
from analysis.store import Store, run_id, scenario_id
from simulation.scenario import ConfigError

A, B, C = "core.data_sharing", "core.confirm_willingness", "guarantor.fee_rate"


def planted_store(root: Path, points: int = 300, seeds: int = 2) -> Path:
    """An LHS-like store where tier-2 access is high exactly when A > 0.6 and B < 0.4."""
    rng = np.random.default_rng(7)
    store = Store.create(root)
    rows = []
    for i in range(points):
        a, b, c = rng.random(3)
        c = 0.005 + 0.02 * c
        config = {
            "core": {"data_sharing": a, "confirm_willingness": b},
            "guarantor": {"fee_rate": c},
        }
        inside = a > 0.6 and b < 0.4
        sid = scenario_id(config, 12)
        for seed in range(1, seeds + 1):
            rid = run_id(config, seed, 12)
            access = (0.7 if inside else 0.3) + rng.normal(0, 0.02)
            meta = {"run_id": rid, "scenario_id": sid, "seed": seed, "months": 12, "config": config}
            monthly = pd.DataFrame({"month": [1], "group": ["all"], "n_need": [1.0]})
            store.write_run(
                meta,
                monthly,
                {"credit_access_rate": 0.5, "by_group": {"tier2": {"credit_access_rate": access}}},
            )
            rows.append(
                {
                    "experiment": "sweep",
                    "scenario": "x",
                    "variant": f"x lhs#{i}",
                    "point": i,
                    "seed": seed,
                    "months": 12,
                    "run_id": rid,
                    "scenario_id": sid,
                    f"param.{A}": a,
                    f"param.{B}": b,
                    f"param.{C}": c,
                }
            )
    store.write_plan("sweep", "planted", "", pd.DataFrame(rows))
    return root


def test_prim_recovers_the_planted_box(tmp_path: Path) -> None:
    store = planted_store(tmp_path / "s")
    found = discover_store(store, "tier2.credit_access_rate", 0.5)
    assert len(found.cases) == 300 and found.inputs == [A, B, C]
    box = found.boxes[0]
    assert set(box.limits) == {A, B}  # the fee rate does not matter and is not restricted
    assert box.limits[A][0] == pytest.approx(0.6, abs=0.05) and box.limits[A][1] > 0.95
    assert box.limits[B][0] < 0.05 and box.limits[B][1] == pytest.approx(0.4, abs=0.05)
    assert box.coverage >= 0.9 and box.density >= 0.9
    below = discover_store(store, "tier2.credit_access_rate", 0.5, below=True)
    assert below.boxes[0].density >= 0.9  # the complement is found too


def discover_cli(store: Path, *args: str):
    rule = ["--metric", "tier2.credit_access_rate", "--threshold", "0.5"]
    return CliRunner().invoke(app, ["discover", str(store), *rule, *args])


def test_the_command_prints_boxes_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    store = planted_store(tmp_path / "s", points=120)
    ok = discover_cli(store, "--json")
    assert ok.exit_code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["boxes"][0]["coverage"] > 0.8 and A in data["boxes"][0]["limits"]
    report = tmp_path / "d.html"
    ok = discover_cli(store, "--report", str(report), "--save", str(tmp_path / "boxes"))
    assert ok.exit_code == 0, ok.stderr
    assert "coverage" in ok.stdout and report.read_text().count("<table") >= 1
    assert (tmp_path / "boxes" / "box-1.yaml").is_file()
    for args, fragment in [
        (["--metric", "nonsense"], "not a summary metric"),
        (["--threshold", "2"], "no configuration has"),
        (["--threshold", "-1"], "every configuration"),
    ]:
        bad = discover_cli(store, *args)  # the later option wins
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and fragment in bad.stderr
    bad = discover_cli(tmp_path)
    assert bad.exit_code == 2 and "not an scf results store" in bad.stderr


def test_a_store_without_varying_parameters_is_refused(tmp_path: Path) -> None:
    store = planted_store(tmp_path / "s", points=1)
    with pytest.raises(ConfigError, match="no parameter varies"):
        discover_store(store, "tier2.credit_access_rate", 0.5)
