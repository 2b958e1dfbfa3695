"""The recorder's per-SME columns and their group totals in one compiled pass (numba).

Each column is the expression the recorder documents, and every sum adds in the order the
NumPy version added (per-SME sums over funded cells as `np.bincount`, "all" as NumPy's pairwise
sum of the row), so the monthly rows are the NumPy ones bit for bit.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import cell_group_sums, column_block_sums, compiled, pairwise_runs

# rows of the column matrix, by position in the `at` array handed to `month_table`
(N_ACTIVE, N_NEED, N_FUNDED, NEED, FUNDED, SALES, COST, LOAN_INTEREST, LOAN_VOLUME,
 LOST_OUTPUT, SME_DEFAULTS, GUARANTEE_OUTSTANDING, LOAN_BALANCE, BORROWERS, VOLUME0) = range(15)


# SMEs per run of `month_table`: NumPy's pairwise sum adds runs of up to 128 values in place
_RUN = 128


@compiled
def month_table(at, n_rows, need, alive, sales, delivered, defaulted, g_out, balance,
                small_cap, sme, inst, amount, rate, charge, is_loan, codes, n_groups):
    """The month's per-SME columns totalled by group, (rows, groups) with column 0 "all";
    each instrument's all-in cost by group; each SME's status code (no need, funded, rationed,
    defaulted). Cells (sme, inst, amount, rate, charge) are the funded ones, in cell order
    (SMEs ascending).

    No (rows, n) column matrix is built: the SMEs are taken in runs of at most 128, in the
    order NumPy's pairwise sum of a row splits it (`kernels.pairwise_runs`); each run's columns
    are worked out into a small buffer, added to their groups SME by SME (as `np.bincount`
    adds) and summed as NumPy sums that stretch of the row, the runs' sums combined as NumPy
    combines them. So the table is the one of the column matrix, bit for bit."""
    n = len(need)
    n_cells = len(amount)
    for c in range(1, n_cells):
        if sme[c] < sme[c - 1]:
            raise ValueError("month_table: cells must be in SME order")
    cell_cost = np.empty(n_cells)
    for c in range(n_cells):
        r = rate[c]
        cell_cost[c] = amount[c] * (r if np.isfinite(r) else 0.0)  # all-in: fees, costs too
    table = np.zeros((n_groups, n_rows))  # by group, so that the adds run along a row
    status = np.zeros(n, np.int8)
    buf = np.empty((_RUN, n_rows))  # a run's columns, SME by SME
    partial = np.empty((8, n_rows))
    run_lo, run_n, merges = pairwise_runs(n)
    sums = np.empty((64, n_rows))  # the partial sums of each column, as NumPy's stack
    top, cell = 0, 0
    for run in range(len(run_lo)):
        lo, m = run_lo[run], run_n[run]
        cell = _fill(buf, lo, m, cell, at, need, alive, sales, delivered, defaulted, g_out,
                     balance, small_cap, sme, inst, amount, rate, charge, cell_cost, is_loan,
                     status)
        for j in range(m):
            for b in range(codes.shape[0]):
                g = codes[b, lo + j]
                for c in range(n_rows):
                    table[g, c] += buf[j, c]
        column_block_sums(buf, m, partial, sums[top])
        top += 1
        for _ in range(merges[run]):  # left plus right, as NumPy adds two halves
            for c in range(n_rows):
                sums[top - 2, c] = sums[top - 2, c] + sums[top - 1, c]
            top -= 1
    for c in range(n_rows):
        table[0, c] = 0.0 + sums[0, c]  # `a.sum()` is 0.0 plus the pairwise sum
    cost_by = cell_group_sums(inst, sme, cell_cost, codes, len(is_loan), n_groups)
    return table.T, cost_by, status


@compiled
def _fill(buf, lo, m, cell, at, need, alive, sales, delivered, defaulted, g_out, balance,
          small_cap, sme, inst, amount, rate, charge, cell_cost, is_loan, status):
    """The columns of SMEs lo..lo + m - 1 into buf[:m], each SME's cells summed from zero in
    cell order (as `np.bincount`) from `cell` on; returns the first cell past them."""
    for j in range(m):
        i = lo + j
        funded_tot, cost, interest, loan_volume = 0.0, 0.0, 0.0, 0.0
        for k in range(len(is_loan)):
            buf[j, at[VOLUME0] + k] = 0.0
        while cell < len(amount) and sme[cell] == i:
            k, f, r = inst[cell], amount[cell], rate[cell]
            funded_tot += f
            cost += cell_cost[cell]
            if is_loan[k]:
                interest += f * ((r - charge[cell]) if np.isfinite(r) else 0.0)
                loan_volume += f
            buf[j, at[VOLUME0] + k] = f
            cell += 1
        has_need = need[i] > 1e-9
        full = has_need and funded_tot >= need[i] - 1e-6
        small = alive[i] and balance[i] > 0 and balance[i] <= small_cap
        buf[j, at[COST]] = cost
        buf[j, at[LOAN_INTEREST]] = interest
        buf[j, at[LOAN_VOLUME]] = loan_volume
        buf[j, at[N_ACTIVE]] = alive[i]
        buf[j, at[N_NEED]] = has_need
        buf[j, at[N_FUNDED]] = full
        buf[j, at[NEED]] = need[i]
        buf[j, at[FUNDED]] = min(funded_tot, need[i])
        buf[j, at[SALES]] = sales[i]
        buf[j, at[LOST_OUTPUT]] = sales[i] * (1 - delivered[i])
        buf[j, at[SME_DEFAULTS]] = defaulted[i]
        buf[j, at[GUARANTEE_OUTSTANDING]] = g_out[i]
        buf[j, at[LOAN_BALANCE]] = balance[i] if small else 0.0
        buf[j, at[BORROWERS]] = small
        status[i] = 3 if not alive[i] else (1 if full else 2) if has_need else 0
    return cell


# the rates `derive` works out, in the order `metrics._derive` sets them
DERIVED = ("credit_access_rate", "funded_share", "finance_charges", "finance_cost_share",
           "balance_per_borrower", "borrower_share", "financing_gap", "avg_cost_of_funds",
           "avg_loan_rate")
# rows of the group table `derive` reads, by position in its `at` array (the volumes last)
(D_N_FUNDED, D_N_NEED, D_FUNDED, D_NEED, D_COST, D_SALES, D_LOAN_BALANCE, D_BORROWERS,
 D_N_ACTIVE, D_LOAN_INTEREST, D_LOAN_VOLUME, D_VOLUME0) = range(12)


@compiled
def _share(a, b):
    return a / b if b > 0 else np.nan


@compiled
def _python_sum(values):
    """Python's `sum` of floats (3.12 on): from 0, compensated as Neumaier's algorithm."""
    total, c = 0.0 + values[0], 0.0
    for k in range(1, len(values)):
        x = values[k]
        t = total + x
        if abs(total) >= abs(x):
            c += (total - t) + x
        else:
            c += (x - t) + total
        total = t
    if c != 0.0 and np.isfinite(c):
        total += c
    return total


@compiled
def derive(table, at, n_volumes, term):
    """`metrics._derive` for every group (column) of a month's table at once, each rate by
    the same operations on the same floats (the volumes added as Python's `sum` adds floats,
    the gap as Python's `max(gap, 0.0)`)."""
    n_groups = table.shape[1]
    out = np.empty((len(DERIVED), n_groups))
    for g in range(n_groups):
        cost, sales = table[at[D_COST], g], table[at[D_SALES], g]
        out[0, g] = _share(table[at[D_N_FUNDED], g], table[at[D_N_NEED], g])
        out[1, g] = _share(table[at[D_FUNDED], g], table[at[D_NEED], g])
        charges = cost * term / 12.0
        out[2, g] = charges
        out[3, g] = _share(charges, sales)
        out[4, g] = _share(table[at[D_LOAN_BALANCE], g], table[at[D_BORROWERS], g])
        out[5, g] = _share(table[at[D_BORROWERS], g], table[at[D_N_ACTIVE], g])
        gap = table[at[D_NEED], g] - table[at[D_FUNDED], g]
        out[6, g] = 0.0 if gap < 0.0 else gap
        volume = _python_sum(table[at[D_VOLUME0]:at[D_VOLUME0] + n_volumes, g])
        out[7, g] = cost / volume if volume > 0 else np.nan
        loan_volume = table[at[D_LOAN_VOLUME], g]
        out[8, g] = table[at[D_LOAN_INTEREST], g] / loan_volume if loan_volume > 0 else np.nan
    return out
