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
# the buffer's columns in blocks: those of every SME, then blocks that are all zeros for most
# SMEs in most months, which are not added to the groups then (adding a zero to a sum that
# started at 0.0 leaves it as it is)
(B_N_ACTIVE, B_SALES, B_LOST_OUTPUT, B_SME_DEFAULTS,  # every SME
 B_N_NEED, B_N_FUNDED, B_NEED, B_FUNDED,  # asking for finance or funded
 B_GUARANTEE_OUTSTANDING, B_LOAN_BALANCE, B_BORROWERS,  # with loans on the book
 B_COST, B_LOAN_INTEREST, B_LOAN_VOLUME, B_VOLUME0) = range(15)  # funded
ASKING, BOOKED, FUNDED_NOW = 1, 2, 4  # an SME's blocks that are not all zeros
# each buffer column's row, by position in `at` (the volumes follow B_VOLUME0 in order)
_OF = np.array([N_ACTIVE, SALES, LOST_OUTPUT, SME_DEFAULTS, N_NEED, N_FUNDED, NEED, FUNDED,
                GUARANTEE_OUTSTANDING, LOAN_BALANCE, BORROWERS, COST, LOAN_INTEREST,
                LOAN_VOLUME], np.int64)


@compiled
def month_table(at, n_rows, need, alive, sales, delivered, defaulted, g_out, balance,
                small_cap, sme, inst, amount, rate, charge, is_loan, codes, n_groups):
    """The month's per-SME columns totalled by group, (rows, groups) with column 0 "all";
    each instrument's all-in cost by group; each SME's status code (no need, funded, rationed,
    defaulted). Cells (sme, inst, amount, rate, charge) are the funded ones, in cell order
    (SMEs ascending); the rows are the 14 columns in `at` and one per instrument.

    No (rows, n) column matrix is built: the SMEs are taken in runs of at most 128, in the
    order NumPy's pairwise sum of a row splits it (`kernels.pairwise_runs`); each run's columns
    are worked out into a small buffer, added to their groups SME by SME (as `np.bincount`
    adds; blocks of zeros left out, which changes no sum) and summed as NumPy sums that
    stretch of the row, the runs' sums combined as NumPy combines them. So the table is the
    one of the column matrix, bit for bit."""
    n = len(need)
    n_cells = len(amount)
    for c in range(1, n_cells):
        if sme[c] < sme[c - 1]:
            raise ValueError("month_table: cells must be in SME order")
    cell_cost = np.empty(n_cells)
    for c in range(n_cells):
        r = rate[c]
        cell_cost[c] = amount[c] * (r if np.isfinite(r) else 0.0)  # all-in: fees, costs too
    width = B_VOLUME0 + len(is_loan)
    by_group = np.zeros((n_groups, width))  # so that the adds run along a row
    status = np.zeros(n, np.int8)
    buf = np.empty((_RUN, width))  # a run's columns, SME by SME
    blocks = np.empty(_RUN, np.int64)
    partial = np.empty((8, width))
    run_lo, run_n, merges = pairwise_runs(n)
    sums = np.empty((64, width))  # the partial sums of each column, as NumPy's stack
    top, cell = 0, 0
    for run in range(len(run_lo)):
        lo, m = run_lo[run], run_n[run]
        cell = _fill(buf, blocks, lo, m, cell, need, alive, sales, delivered, defaulted,
                     g_out, balance, small_cap, sme, inst, amount, rate, charge, cell_cost,
                     is_loan, status)
        for j in range(m):
            on = blocks[j]
            for b in range(codes.shape[0]):
                g = codes[b, lo + j]
                for c in range(B_N_NEED):
                    by_group[g, c] += buf[j, c]
                if on & ASKING:
                    for c in range(B_N_NEED, B_GUARANTEE_OUTSTANDING):
                        by_group[g, c] += buf[j, c]
                if on & BOOKED:
                    for c in range(B_GUARANTEE_OUTSTANDING, B_COST):
                        by_group[g, c] += buf[j, c]
                if on & FUNDED_NOW:
                    for c in range(B_COST, width):
                        by_group[g, c] += buf[j, c]
        column_block_sums(buf, m, partial, sums[top])
        top += 1
        for _ in range(merges[run]):  # left plus right, as NumPy adds two halves
            for c in range(width):
                sums[top - 2, c] = sums[top - 2, c] + sums[top - 1, c]
            top -= 1
    table = np.zeros((n_groups, n_rows))
    for c in range(width):
        row = at[_OF[c]] if c < B_VOLUME0 else at[VOLUME0] + c - B_VOLUME0
        table[0, row] = 0.0 + sums[0, c]  # `a.sum()` is 0.0 plus the pairwise sum
        for g in range(1, n_groups):
            table[g, row] = by_group[g, c]
    cost_by = cell_group_sums(inst, sme, cell_cost, codes, len(is_loan), n_groups)
    return table.T, cost_by, status


@compiled
def _fill(buf, blocks, lo, m, cell, need, alive, sales, delivered, defaulted, g_out, balance,
          small_cap, sme, inst, amount, rate, charge, cell_cost, is_loan, status):
    """The columns of SMEs lo..lo + m - 1 into buf[:m] and which of their blocks may hold
    other than zeros into blocks[:m], each SME's cells summed from zero in cell order (as
    `np.bincount`) from `cell` on; returns the first cell past them."""
    for j in range(m):
        i = lo + j
        first = cell
        funded_tot, cost, interest, loan_volume = 0.0, 0.0, 0.0, 0.0
        for k in range(len(is_loan)):
            buf[j, B_VOLUME0 + k] = 0.0
        while cell < len(amount) and sme[cell] == i:
            k, f, r = inst[cell], amount[cell], rate[cell]
            funded_tot += f
            cost += cell_cost[cell]
            if is_loan[k]:
                interest += f * ((r - charge[cell]) if np.isfinite(r) else 0.0)
                loan_volume += f
            buf[j, B_VOLUME0 + k] = f
            cell += 1
        has_need = need[i] > 1e-9
        full = has_need and funded_tot >= need[i] - 1e-6
        small = alive[i] and balance[i] > 0 and balance[i] <= small_cap
        buf[j, B_N_ACTIVE] = alive[i]
        buf[j, B_SALES] = sales[i]
        buf[j, B_LOST_OUTPUT] = sales[i] * (1 - delivered[i])
        buf[j, B_SME_DEFAULTS] = defaulted[i]
        buf[j, B_N_NEED] = has_need
        buf[j, B_N_FUNDED] = full
        buf[j, B_NEED] = need[i]
        buf[j, B_FUNDED] = min(funded_tot, need[i])
        buf[j, B_GUARANTEE_OUTSTANDING] = g_out[i]
        buf[j, B_LOAN_BALANCE] = balance[i] if small else 0.0
        buf[j, B_BORROWERS] = small
        buf[j, B_COST] = cost
        buf[j, B_LOAN_INTEREST] = interest
        buf[j, B_LOAN_VOLUME] = loan_volume
        # with no need and no cells the asking block is zeros (need, and min(0.0, 0.0)); with
        # no cells the funded one; with no guarantee and no balance the book's
        funded = cell > first
        blocks[j] = ((ASKING if need[i] != 0.0 or funded else 0)
                     | (BOOKED if g_out[i] != 0.0 or balance[i] != 0.0 else 0)
                     | (FUNDED_NOW if funded else 0))
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


@compiled
def store_month(block, table, cost_by, at, n_volumes, term):
    """A month's values by group into `block` (groups, keys): the table's rows, each
    instrument's cost, the rates (`derive`), then NaN in the rest, the system metrics' place
    on the groups' rows (the "all" row's are the caller's to set)."""
    derived = derive(table, at, n_volumes, term)
    n_table, n_cost = table.shape[0], cost_by.shape[0]
    for g in range(block.shape[0]):
        for k in range(n_table):
            block[g, k] = table[k, g]
        for k in range(n_cost):
            block[g, n_table + k] = cost_by[k, g]
        for k in range(len(DERIVED)):
            block[g, n_table + n_cost + k] = derived[k, g]
        if g > 0:
            for k in range(n_table + n_cost + len(DERIVED), block.shape[1]):
                block[g, k] = np.nan
