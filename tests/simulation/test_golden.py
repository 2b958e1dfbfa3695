"""Fixed-seed summaries must match the stored golden JSON (see tests/simulation/golden.py)."""

import json
import math

import pytest

from tests.simulation.golden import CASES, GOLDEN_DIR, compute


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a} != {b}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_matches_golden(name):
    stored = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
    _close(json.loads(json.dumps(compute(name))), stored)
