"""Compiled kernels add in NumPy's order: their results equal the NumPy code they replace."""

import numpy as np

from simulation import kernels


def _codes(rng, n):
    """Three disjoint breakdowns of n SMEs into groups 1-4, 5-7 and 8-10 (0 is "all")."""
    return np.stack(
        (rng.integers(1, 5, n), rng.integers(5, 8, n), rng.integers(8, 11, n))
    ).astype(np.int64)


def test_group_table_adds_as_bincount_per_breakdown():
    rng = np.random.default_rng(3)
    for n in (0, 1, 9, 1000, 40_001):
        codes = _codes(rng, n)
        x = rng.lognormal(0, 3, (5, n)) * (rng.random((5, n)) < 0.4)
        x[1] = -x[1]
        table = kernels.group_table(x, codes, 11)
        for c in range(5):
            plain = np.zeros(11)
            for b in codes:
                plain += np.bincount(b, x[c], minlength=11)
            assert np.array_equal(table[c], plain), (n, c)
        # "all" as the recorder takes it: NumPy's sum of each row, as of each row alone
        assert np.array_equal(x.sum(axis=1), np.array([row.copy().sum() for row in x]))


def test_cell_group_sums_add_as_bincount():
    rng = np.random.default_rng(4)
    n, cells = 3000, 5000
    codes = _codes(rng, n)
    sme = np.sort(rng.integers(0, n, cells))
    inst = rng.integers(0, 7, cells)
    v = rng.lognormal(2, 2, cells)
    out = kernels.cell_group_sums(inst, sme, v, codes, 7, 11)
    plain = sum(np.bincount(inst * 11 + b[sme], v, minlength=77) for b in codes).reshape(7, 11)
    plain[:, 0] = np.bincount(inst, v, minlength=7)
    assert np.array_equal(out, plain)
