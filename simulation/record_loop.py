"""The recorder's per-SME columns and their group totals in one compiled pass (numba).

Each column is the expression the recorder documents. Each SME's values are added, in SME order,
to its cell of the breakdowns (role x size x risk: every SME is in one cell, and each group of a
breakdown is a union of cells), and each group's sum adds its cells' sums in cell order; the
"all" row adds the groups of the first breakdown (the SMEs' roles), which partition the SMEs.
These are the values NumPy's `np.bincount` over the SMEs and pairwise sum of the row added, in
another order: equal within a few units in the last place (tests/simulation/test_kernels.py
bounds it at 1e-12 relative; every value summed is zero or more, so no cancellation can
magnify it). Counts are sums of ones, exact in any order, and the costs by
instrument and the status are the NumPy ones bit for bit. The recorder's rows feed no decision
in the model, so the run itself is unchanged.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import cell_group_sums, compiled

# rows of the table, by position in the `at` array handed to `month_table`
(N_ACTIVE, N_NEED, N_FUNDED, NEED, FUNDED, SALES, COST, LOAN_INTEREST, LOAN_VOLUME,
 LOST_OUTPUT, SME_DEFAULTS, GUARANTEE_OUTSTANDING, LOAN_BALANCE, BORROWERS, VOLUME0) = range(15)

# the group sums' columns: those of every SME, then blocks that are all zeros for most SMEs in
# most months and are not added then (adding a zero to a sum that started at 0.0 leaves it as
# it is)
(B_N_ACTIVE, B_SALES, B_LOST_OUTPUT, B_SME_DEFAULTS,  # every SME
 B_N_NEED, B_N_FUNDED, B_NEED, B_FUNDED,  # asking for finance or funded
 B_GUARANTEE_OUTSTANDING, B_LOAN_BALANCE, B_BORROWERS,  # with loans on the book
 B_COST, B_LOAN_INTEREST, B_LOAN_VOLUME, B_VOLUME0) = range(15)  # funded
# each column's row, by position in `at` (the volumes follow B_VOLUME0 in order)
_OF = np.array([N_ACTIVE, SALES, LOST_OUTPUT, SME_DEFAULTS, N_NEED, N_FUNDED, NEED, FUNDED,
                GUARANTEE_OUTSTANDING, LOAN_BALANCE, BORROWERS, COST, LOAN_INTEREST,
                LOAN_VOLUME], np.int64)


@compiled
def month_table(at, n_rows, need, alive, sales, delivered, defaulted, g_out, balance,
                small_cap, sme, inst, amount, rate, charge, is_loan, codes, cell_of,
                cell_groups, n_groups):
    """The month's per-SME columns totalled by group, (rows, groups) with column 0 "all";
    each instrument's all-in cost by group; each SME's status code (no need, funded, rationed,
    defaulted). Funded cells (sme, inst, amount, rate, charge) are in cell order (SMEs
    ascending); the rows are the 14 columns in `at` and one per instrument. `codes`
    (breakdowns, n) gives each SME's group in each breakdown, `cell_of` (n) its cell of the
    breakdowns and `cell_groups` (cells, breakdowns) each cell's groups (so that
    cell_groups[cell_of[i]] is codes[:, i]); the first breakdown's groups partition the SMEs,
    and "all" is their sum.

    SME by SME, each column's value is added to the SME's cell, from zero, in SME order; blocks
    of zeros are left out, which changes no sum. Each group then adds its cells' sums."""
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
    by_cell = np.zeros((cell_groups.shape[0], width))  # so that the adds run along a row
    present = np.zeros(cell_groups.shape[0], np.bool_)  # the cells with an SME
    status = np.zeros(n, np.int8)
    cell = 0
    for i in range(n):
        j = cell_of[i]
        present[j] = True
        lost = sales[i] * (1 - delivered[i])
        _add(by_cell, j, B_N_ACTIVE, (1.0 if alive[i] else 0.0, sales[i], lost,
                                      defaulted[i] * 1.0))
        # the SME's cells, each summed from zero in cell order (as `np.bincount`)
        first = cell
        funded_tot, cost, interest, loan_volume = 0.0, 0.0, 0.0, 0.0
        while cell < n_cells and sme[cell] == i:
            k, f, r = inst[cell], amount[cell], rate[cell]
            funded_tot += f
            cost += cell_cost[cell]
            if is_loan[k]:
                interest += f * ((r - charge[cell]) if np.isfinite(r) else 0.0)
                loan_volume += f
            by_cell[j, B_VOLUME0 + k] += f
            cell += 1
        funded = cell > first
        has_need = need[i] > 1e-9
        full = has_need and funded_tot >= need[i] - 1e-6
        # with no need and no cells the asking block is zeros (need, and min(0.0, 0.0)); with
        # no cells the funded one; with no guarantee and no balance the book's
        if need[i] != 0.0 or funded:
            _add(by_cell, j, B_N_NEED, (1.0 if has_need else 0.0, 1.0 if full else 0.0,
                                        need[i], min(funded_tot, need[i])))
        if g_out[i] != 0.0 or balance[i] != 0.0:
            small = alive[i] and balance[i] > 0 and balance[i] <= small_cap
            _add(by_cell, j, B_GUARANTEE_OUTSTANDING,
                 (g_out[i], balance[i] if small else 0.0, 1.0 if small else 0.0))
        if funded:
            _add(by_cell, j, B_COST, (cost, interest, loan_volume))
        status[i] = 3 if not alive[i] else (1 if full else 2) if has_need else 0
    by_group = np.zeros((n_groups, width))
    first_breakdown = np.zeros(n_groups, np.bool_)  # the groups "all" adds up
    for j in range(cell_groups.shape[0]):
        if present[j]:
            first_breakdown[cell_groups[j, 0]] = True
            for b in range(cell_groups.shape[1]):
                g = cell_groups[j, b]
                for c in range(width):
                    by_group[g, c] += by_cell[j, c]
    table = np.zeros((n_groups, n_rows))
    for c in range(width):
        row = at[_OF[c]] if c < B_VOLUME0 else at[VOLUME0] + c - B_VOLUME0
        total = 0.0
        for g in range(1, n_groups):
            table[g, row] = by_group[g, c]
            if first_breakdown[g]:
                total += by_group[g, c]
        table[0, row] = total
    cost_by = cell_group_sums(inst, sme, cell_cost, codes, len(is_loan), n_groups)
    return table.T, cost_by, status


@compiled
def _add(by_cell, j, first, values):
    """Add an SME's `values` (a tuple of floats) to columns first, first + 1, ... of its
    cell j."""
    for k in range(len(values)):
        by_cell[j, first + k] += values[k]


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
