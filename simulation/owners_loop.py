"""Each SME's net working capital and its owners' payout, in one compiled pass (numba).

Net working capital is cash and receivables (trade credit and bills due in) less loans, fees and
payables due; owners take out a share of it above the firm's equity target, within its cash above
the cash target. Every sum adds in the order of the NumPy version it replaced (`Model.net_worth`
as it was: row sums over the payment horizon one by one, as NumPy sums a column-major block's
rows, or pairwise where NumPy had copied the rows; per-SME sums as `np.bincount`; the loan book's
cohorts added slot by slot), so net worth and payouts are its numbers bit for bit
(tests/simulation/test_kernels.py).
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import add_bincount, compiled, pairwise_sum


@compiled
def net_worth(cash, edge_seller, edge_buyer, to_sme, recv_t, bills_t, pay_out_t, fee_t,
              due_sme, due, due_ends, with_bills):
    """Per SME: cash + claims - payables - debt. `recv_t`, `bills_t` are (horizon, edges),
    `pay_out_t` (horizon, SMEs) and `fee_t` (slots, SMEs), C-contiguous; the loan book's
    cohorts are concatenated (`due_sme`, `due`), cohort k ending at `due_ends[k]`. Without
    bills in flight (`with_bills` False: `bills_t` all zeros) their sums, zeros that would
    change no claim, are left out."""
    n = len(cash)
    horizon, n_edges = recv_t.shape
    # each edge's receivables and bills over the horizon, added month by month (the same
    # additions, in the same order, as edge by edge; month-major, the rows are read in turn)
    r = recv_t[0].copy()
    for h in range(1, horizon):
        for e in range(n_edges):
            r[e] += recv_t[h, e]
    claims = np.zeros(n)
    if with_bills:
        b = bills_t[0].copy()
        for h in range(1, horizon):
            for e in range(n_edges):
                b[e] += bills_t[h, e]
        for e in range(n_edges):
            claims[edge_seller[e]] += r[e] + b[e]
    else:
        for e in range(n_edges):
            claims[edge_seller[e]] += r[e]
    # (NumPy copied the rows of the SME-to-SME edges before summing them: pairwise)
    owed = np.zeros(n)
    row = np.empty(horizon)
    for e in to_sme:
        for h in range(horizon):
            row[h] = recv_t[h, e]
        owed[edge_buyer[e]] += 0.0 + pairwise_sum(row, 0, horizon)
    debt = fee_t[0].copy()
    for s in range(1, fee_t.shape[0]):
        debt += fee_t[s]
    # each cohort's sums per SME from zero, added to the debt once (`debt += np.bincount(...)`,
    # at the cohort's SMEs only: no debt is -0.0)
    scratch, every, one_kind = np.zeros(n), np.ones(1, np.bool_), np.zeros(len(due), np.int64)
    lo = 0
    for hi in due_ends:
        add_bincount(debt, due_sme[lo:hi], one_kind[lo:hi], due[lo:hi], every, scratch)
        lo = hi
    pay = pay_out_t[0].copy()
    for h in range(1, horizon):
        for i in range(n):
            pay[i] += pay_out_t[h, i]
    out = np.empty(n)
    for i in range(n):
        out[i] = cash[i] + claims[i] - (owed[i] + pay[i]) - debt[i]
    return out


@compiled
def owner_payouts(worth, cash, equity_target, cash_target, eligible, payout_share):
    """The SMEs whose owners take money out (ascending) and the amounts: `payout_share` of net
    worth above `equity_target` for the `eligible`, within cash above `cash_target`."""
    amount = np.empty(len(cash))
    idx = np.empty(len(cash), np.int64)
    k = 0
    for i in range(len(cash)):
        if not eligible[i]:
            continue
        excess = worth[i] - equity_target[i]
        room = cash[i] - cash_target[i]
        pay = min(payout_share * excess, room)
        if excess > 0.0 and room > 0.0 and pay > 0.0:  # (NaN pays nothing, as in NumPy)
            idx[k] = i
            amount[k] = pay
            k += 1
    return idx[:k], amount[:k]
