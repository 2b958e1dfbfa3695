"""The recorder's per-SME columns and their group totals in one compiled pass (numba).

Each column is the expression the recorder documents, and every sum adds in the order the
NumPy version added (per-SME sums over funded cells as `np.bincount`, "all" as NumPy's pairwise
sum of the row), so the monthly rows are the NumPy ones bit for bit.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import cell_group_sums, compiled, group_table, numpy_sum

# rows of the column matrix, by position in the `at` array handed to `month_table`
(N_ACTIVE, N_NEED, N_FUNDED, NEED, FUNDED, SALES, COST, LOAN_INTEREST, LOAN_VOLUME,
 LOST_OUTPUT, SME_DEFAULTS, GUARANTEE_OUTSTANDING, LOAN_BALANCE, BORROWERS, VOLUME0) = range(15)


@compiled
def month_table(at, n_rows, need, alive, sales, delivered, defaulted, g_out, balance,
                small_cap, sme, inst, amount, rate, charge, is_loan, codes, n_groups):
    """The month's (rows, n) column matrix totalled by group (column 0 "all"), each
    instrument's all-in cost by group, and each SME's status code (no need, funded, rationed,
    defaulted). Cells (sme, inst, amount, rate, charge) are the funded ones, in cell order."""
    n = len(need)
    x = np.zeros((n_rows, n))
    funded_tot = np.zeros(n)
    cell_cost = np.empty(len(amount))
    for c in range(len(amount)):
        i, k, f, r = sme[c], inst[c], amount[c], rate[c]
        finite = np.isfinite(r)
        funded_tot[i] += f
        cell_cost[c] = f * (r if finite else 0.0)  # all-in: interest, fees, application costs
        x[at[COST], i] += cell_cost[c]
        if is_loan[k]:
            x[at[LOAN_INTEREST], i] += f * ((r - charge[c]) if finite else 0.0)
            x[at[LOAN_VOLUME], i] += f
        x[at[VOLUME0] + k, i] = f
    status = np.zeros(n, np.int8)
    for i in range(n):
        has_need = need[i] > 1e-9
        full = has_need and funded_tot[i] >= need[i] - 1e-6
        small = alive[i] and balance[i] > 0 and balance[i] <= small_cap
        x[at[N_ACTIVE], i] = alive[i]
        x[at[N_NEED], i] = has_need
        x[at[N_FUNDED], i] = full
        x[at[NEED], i] = need[i]
        x[at[FUNDED], i] = min(funded_tot[i], need[i])
        x[at[SALES], i] = sales[i]
        x[at[LOST_OUTPUT], i] = sales[i] * (1 - delivered[i])
        x[at[SME_DEFAULTS], i] = defaulted[i]
        x[at[GUARANTEE_OUTSTANDING], i] = g_out[i]
        x[at[LOAN_BALANCE], i] = balance[i] if small else 0.0
        x[at[BORROWERS], i] = small
        status[i] = 3 if not alive[i] else (1 if full else 2) if has_need else 0
    table = group_table(x, codes, n_groups)
    for c in range(n_rows):
        table[c, 0] = numpy_sum(x[c])
    cost_by = cell_group_sums(inst, sme, cell_cost, codes, len(is_loan), n_groups)
    return table, cost_by, status


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
