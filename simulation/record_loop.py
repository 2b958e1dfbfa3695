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
