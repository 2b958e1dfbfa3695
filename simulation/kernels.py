"""Compiled loops (numba) for the monthly cycle's hot phases.

Each kernel fuses passes that NumPy would make one call at a time into one loop, and adds in
the order the NumPy code it replaces added (`np.bincount` adds each bin's values in index order),
so results are the same bit for bit. Compiled code is cached on disk (`cache=True`): a new
process, an `scf run` or a Dask worker, loads it instead of compiling again. No loop is parallel,
so nothing depends on the number of threads.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np

compiled = numba.njit(cache=True, nogil=True)
_MARKER = "numba-sources.sha256"


@compiled
def maximum(a, b):
    """`np.maximum(a, b)` for floats: NaN wins, and a tie keeps `a`."""
    return a if (a >= b or a != a) else b


@compiled
def minimum(a, b):
    """`np.minimum(a, b)` for floats: NaN wins, and a tie keeps `a`."""
    return a if (a <= b or a != a) else b


# NumPy's own exp and power, which it uses on CPUs with AVX-512, differ from the C library's in
# the last bit for about one value in twenty (measured on an AMD EPYC with AVX-512: 4,534 of
# 100,000 exps, 6,493 of 100,000 powers). A model that used them would not give the same numbers
# on every machine, so it uses the C library's everywhere (as `math.exp` and `math.pow` do, and
# as NumPy does on CPUs without AVX-512, where the golden summaries were recorded).


@compiled
def _exp_loop(x):
    out = np.empty(len(x))
    for i in range(len(x)):
        out[i] = math.exp(x[i])
    return out


@compiled
def _pow_loop(x, y):
    out = np.empty(len(x))
    for i in range(len(x)):
        out[i] = math.pow(x[i], y)
    return out


def c_exp(x: np.ndarray) -> np.ndarray:
    """exp, element by element, the C library's on every machine (not NumPy's: see above)."""
    x = np.asarray(x, dtype=np.float64)
    return _exp_loop(x.ravel()).reshape(x.shape)


def c_pow(x: np.ndarray, y: float) -> np.ndarray:
    """x ** y, element by element, the C library's pow on every machine (not NumPy's)."""
    x = np.asarray(x, dtype=np.float64)
    return _pow_loop(x.ravel(), float(y)).reshape(x.shape)


def drop_stale_cache(package: Path, cache: Path) -> bool:
    """Empty numba's cache in `cache` when the package's compiled code changed.

    Numba checks only the file a cached function is defined in, so code compiled into it from
    another module (these kernels, called from the `*_loop` modules) goes stale unnoticed when
    that module changes. A digest of every module with compiled code is kept beside the cache;
    when it differs, the cached code is dropped (and compiled again on first use). Returns
    whether it was dropped.
    """
    h = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        text = path.read_bytes()
        if b"@compiled" in text:
            h.update(path.name.encode() + b"\0" + text)
    digest = h.hexdigest()
    marker = cache / _MARKER
    try:
        if marker.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for stale in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            stale.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        marker.write_text(digest)
    except OSError:  # (a read-only install: numba then caches elsewhere)
        return False
    return True


if not numba.config.CACHE_DIR:  # (a cache set elsewhere is its owner's to clear)
    drop_stale_cache(Path(__file__).parent, Path(__file__).parent / "__pycache__")


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


@compiled
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's sum of a run of at most 128 values (see `pairwise_sum`)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@compiled
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's sum of the contiguous float64 run a[lo:lo + n], added in NumPy's order.

    NumPy adds a contiguous run pairwise: below 8 values one by one, up to 128 in eight
    interleaved partial sums, beyond that as the sum of its two halves (the first a multiple
    of 8 long); `a.sum()` is 0.0 plus that (tests/simulation/test_kernels.py). The halving
    runs on an explicit stack: numba's cache cannot load a recursive function.
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    run_lo = np.empty(64, np.int64)  # the runs being split, depth first, and their state:
    run_n = np.empty(64, np.int64)  # 0 new, 1 left half summed, 2 both halves summed
    state = np.zeros(64, np.int64)
    sums = np.empty(64)
    run_lo[0], run_n[0] = lo, n
    top, n_sums = 0, 0
    while top >= 0:
        m = run_n[top]
        if m <= 128:
            sums[n_sums] = _block_sum(a, run_lo[top], m)
            n_sums += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if state[top] == 2:
            sums[n_sums - 2] = sums[n_sums - 2] + sums[n_sums - 1]
            n_sums -= 1
            top -= 1
            continue
        first = state[top] == 0
        state[top] += 1
        top += 1
        run_lo[top] = run_lo[top - 1] if first else run_lo[top - 1] + half
        run_n[top] = half if first else m - half
        state[top] = 0
    return sums[0]


@compiled
def numpy_sum(a: np.ndarray) -> float:
    """`a.sum()` for a contiguous 1-D float64 array, bit for bit."""
    return 0.0 + pairwise_sum(a, 0, len(a))


@compiled
def sparse_numpy_sum(values: np.ndarray, pos: np.ndarray, n: int) -> float:
    """`numpy_sum` of the n values that are `values` at positions `pos` (ascending, distinct)
    and 0.0 elsewhere, bit for bit, in time proportional to the runs and the values given.

    Each of NumPy's partial sums (`pairwise_runs`, eight interleaved lanes per run of eight or
    more) adds its non-zero values in order; the zeros between them change nothing, for no
    value is -0.0 (x + 0.0 is x, and 0.0 + x is x, unless x is -0.0): callers pass values
    that are not -0.0, such as amounts of a transfer (zero or more).
    """
    run_lo, run_n, merges = pairwise_runs(n)
    sums = np.empty(64)
    lanes = np.empty(8)
    top, v = 0, 0
    for run in range(len(run_lo)):
        lo, m = run_lo[run], run_n[run]
        end = lo + m
        if m < 8:
            res = 0.0
            while v < len(pos) and pos[v] < end:
                res += values[v]
                v += 1
        else:
            stop = end - m % 8
            lanes[:] = 0.0
            while v < len(pos) and pos[v] < stop:
                lanes[(pos[v] - lo) % 8] += values[v]
                v += 1
            res = (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                   + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))
            while v < len(pos) and pos[v] < end:
                res += values[v]
                v += 1
        sums[top] = res
        top += 1
        for _ in range(merges[run]):
            sums[top - 2] = sums[top - 2] + sums[top - 1]
            top -= 1
    return 0.0 + sums[0]


@compiled
def chunked_sum(flat: np.ndarray, size: int) -> float:
    """NumPy's sum of `flat` (contiguous) in chunks of `size` values, added in order: each
    chunk's `numpy_sum`, then their running total as `np.cumsum` adds (0.0 if empty)."""
    total = 0.0
    for lo in range(0, len(flat), size):
        part = 0.0 + pairwise_sum(flat, lo, min(size, len(flat) - lo))
        total = part if lo == 0 else total + part
    return total


@compiled
def _refused(amount):
    """(whether a transfer of `amount` is refused: an amount is negative, and none is NaN, as
    NumPy's minimum of amounts with a NaN is NaN; how many amounts are not zero)."""
    has_nan, negative, nonzero = False, False, 0
    for a in amount:
        if a != a:
            has_nan = True
        elif a < 0:
            negative = True
        if a != 0:
            nonzero += 1
    return negative and not has_nan, nonzero


@compiled
def post_transfer(balance, amount, src, src_scalar, dst, dst_scalar, scratch):
    """`Ledger.transfer` of the amounts (1-D, contiguous) from `src` to `dst` (each of one
    account or one per amount): returns (NumPy's sum of the amounts, whether one is negative;
    then nothing moves). Balances move as the NumPy transfer moved them: each account by the sum
    of its amounts (in order, from zero), zero amounts left out when most are zero."""
    n = len(amount)
    refused, nonzero = _refused(amount)
    if refused:
        return 0.0, True
    total = numpy_sum(amount)
    sparse = n > 64 and nonzero < n // 2
    if sparse and nonzero == 0:
        return total, False
    _post(balance, amount, src, src_scalar, sparse, -1.0, scratch)
    _post(balance, amount, dst, dst_scalar, sparse, 1.0, scratch)
    return total, False


@compiled
def move(balance, scratch, flows, made, kind, amount, src, src_scalar, dst, dst_scalar):
    """`post_transfer` as one of a kernel's transfers: its total added to flows[kind] and
    made[kind] set, unless there are no amounts (as `Ledger.transfer`, which then books no
    flow); False if an amount is negative (then nothing moves)."""
    if len(amount) == 0:
        return True
    total, negative = post_transfer(balance, amount, src, src_scalar, dst, dst_scalar, scratch)
    if negative:
        return False
    flows[kind] += total
    made[kind] = True
    return True


@compiled
def move_at(balance, scratch, flows, made, kind, n, values, pos, src, src_scalar, dst,
            dst_scalar):
    """`move` of the n amounts that are `values` at positions `pos` (ascending; none -0.0) and
    zero elsewhere, with `src` and `dst` the accounts at those positions (or one account
    each), when `post_transfer` would take its sparse path (more than 64 amounts, fewer than
    half of them non-zero): the same balances and flow, bit for bit, without the zeros.
    Returns 1 when done, 0 when an amount is negative (nothing moves), -1 when the amounts are
    too dense (nothing done: the caller moves the full array)."""
    if n == 0:
        return 1
    refused, nonzero = _refused(values)
    if refused:
        return 0
    if not (n > 64 and nonzero < n // 2):
        return -1
    flows[kind] += sparse_numpy_sum(values, pos, n)
    made[kind] = True
    if nonzero > 0:
        _post(balance, values, src, src_scalar, True, -1.0, scratch)
        _post(balance, values, dst, dst_scalar, True, 1.0, scratch)
    return 1


@compiled
def _post(balance, amount, accounts, scalar, sparse, sign, scratch):
    """Add sign x (each account's amounts summed in order) to the accounts' balances."""
    one = len(accounts) == 1
    if scalar:  # a running total from the first amount, as `np.cumsum`
        total, first = 0.0, True
        for a in amount:
            if sparse and a == 0:
                continue
            if first:
                total, first = a, False
            else:
                total += a
        balance[accounts[0]] += sign * total
        return
    lo, hi = len(balance), -1
    for i in range(len(amount)):
        a = amount[i]
        if sparse and a == 0:
            continue
        j = accounts[0] if one else accounts[i]
        scratch[j] += a  # from zero, in order, as `np.bincount`
        lo, hi = min(lo, j), max(hi, j)
    if len(amount) < hi - lo + 1:
        # fewer amounts than accounts in their range: each account met takes its sum the
        # first time (a later time adds the 0.0 left, which changes no balance: none is -0.0)
        for i in range(len(amount)):
            if sparse and amount[i] == 0:
                continue
            j = accounts[0] if one else accounts[i]
            if sign > 0:
                balance[j] += scratch[j]
            else:
                balance[j] -= scratch[j]
            scratch[j] = 0.0
        return
    for j in range(lo, hi + 1):
        if sign > 0:
            balance[j] += scratch[j]
        else:
            balance[j] -= scratch[j]
        scratch[j] = 0.0


@compiled
def pairwise_runs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How `pairwise_sum` splits a run of n values: its runs of at most 128 in order (start,
    length) and, after each, how many times the last two partial sums are then added (left
    plus right). Summing each run as `_block_sum` does and adding as told gives
    `pairwise_sum`, so a caller can work out each run's values as it goes."""
    # the runs still to split, last first, with the adds each owes once done (a run of more
    # than 128 splits into halves of at least 64, so there are at most n // 64 + 1 runs)
    start, length, owes = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.int64)
    start[0], length[0], owes[0] = 0, n, 0
    run_lo, run_n = np.empty(n // 64 + 1, np.int64), np.empty(n // 64 + 1, np.int64)
    after = np.empty(n // 64 + 1, np.int64)
    top, runs = 0, 0
    while top >= 0:
        lo, m, owed = start[top], length[top], owes[top]
        top -= 1
        if m <= 128:
            run_lo[runs], run_n[runs], after[runs] = lo, m, owed
            runs += 1
            continue
        half = m // 2
        half -= half % 8
        # the right half waits below the left, and owes its parent's add once done
        start[top + 1], length[top + 1], owes[top + 1] = lo + half, m - half, owed + 1
        start[top + 2], length[top + 2], owes[top + 2] = lo, half, 0
        top += 2
    return run_lo[:runs], run_n[:runs], after[:runs]


@compiled
def add_bincount(out: np.ndarray, index: np.ndarray, kind: np.ndarray, values: np.ndarray,
                 mask: np.ndarray, scratch: np.ndarray) -> None:
    """out += np.bincount(index[on], values[on], minlength=len(out)) with on = mask[kind], bit
    for bit: each entry's values summed from zero in order (in `scratch`, all zeros, left
    so), then added to `out` once, whose entries are never -0.0 (so adding a zero, as NumPy
    does to the other entries, changes none)."""
    for c in range(len(values)):
        if mask[kind[c]]:
            scratch[index[c]] += values[c]
    for c in range(len(values)):
        if mask[kind[c]]:
            i = index[c]
            out[i] += scratch[i]  # (an entry met again adds the zero left)
            scratch[i] = 0.0
