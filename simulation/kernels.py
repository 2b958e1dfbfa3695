"""Compiled loops (numba) for the monthly cycle's hot phases.

Each kernel fuses passes that NumPy would make one call at a time into one loop, and adds in
the order the NumPy code it replaces added (`np.bincount` adds each bin's values in index order),
so results are the same bit for bit. Compiled code is cached on disk (`cache=True`): a new
process, an `scf run` or a Dask worker, loads it instead of compiling again. No loop is parallel,
so nothing depends on the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np

compiled = numba.njit(cache=True, nogil=True)


@compiled
def group_table(columns: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of each row of `columns` (k, n) by group, for every breakdown in `codes` (b, n).

    Out (k, n_groups): entry [c, g] adds columns[c, i] over the SMEs i whose code is g in some
    breakdown, in SME order, as `np.bincount(codes[b], columns[c])` adds them. The breakdowns'
    codes must be disjoint (each group belongs to one breakdown); column 0 is left at zero.
    """
    k, n = columns.shape
    out = np.zeros((k, n_groups))
    for i in range(n):
        for b in range(codes.shape[0]):
            g = codes[b, i]
            for c in range(k):
                out[c, g] += columns[c, i]
    return out


@compiled
def cell_group_sums(instrument: np.ndarray, sme: np.ndarray, values: np.ndarray,
                    codes: np.ndarray, n_instruments: int, n_groups: int) -> np.ndarray:
    """Sums of per-cell `values` by (instrument, group) over funded cells, in cell order.

    Column 0 ("all") adds every cell of the instrument; the others add the cells of the SMEs
    in that group of some breakdown in `codes` (disjoint), as `np.bincount` would.
    """
    out = np.zeros((n_instruments, n_groups))
    for j in range(len(values)):
        k, v = instrument[j], values[j]
        out[k, 0] += v
        for b in range(codes.shape[0]):
            out[k, codes[b, sme[j]]] += v
    return out
