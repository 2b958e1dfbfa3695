"""The cores' confirmations and the bills split from them, in one compiled loop (numba).

Cores confirm requested invoices they are willing to (a draw per invoice, below the core's
willingness), within their bank credit-line room: confirmations occupy the line until paid, so a
core confirms, in random order (the draws'), only what its remaining room allows. A tier-1 SME
passes part of its main core's confirmation down to its tier-2 suppliers as bills, in proportion
to what they ask. Each quantity is worked out in the order of operations of the NumPy version it
replaced (rationing as `market.ration`: a stable sort by draw, running totals as `np.cumsum` core
by core; per-SME sums as `np.bincount`), so confirmations and bills are its numbers bit for bit
(tests/simulation/test_kernels.py). The draws are made in NumPy beforehand.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, numpy_sum


@compiled
def confirm_and_bill(need, sales, edge_seller, edge_buyer, edge_weight, edge_core, draw,
                     willingness, core_line, core_conf, to_sme, primary_edge, with_bills,
                     bill_pass_share):
    """Per trade edge: the invoice, what its core confirms, and the bill passed down to it."""
    n, n_edges, n_cores = len(need), len(edge_seller), len(core_line)
    invoice = np.empty(n_edges)
    confirmed = np.zeros(n_edges)
    bills = np.zeros(n_edges)
    n_core_edges = 0
    for e in range(n_edges):
        invoice[e] = sales[edge_seller[e]] * edge_weight[e]
        if edge_core[e] >= 0:
            n_core_edges += 1
    # core edges asking, in edge order: what the core is willing to confirm
    edge = np.empty(n_core_edges, np.int64)
    willing = np.empty(n_core_edges)
    key = np.empty(n_core_edges)
    c = 0
    n_live = 0
    for e in range(n_edges):
        if edge_core[e] >= 0:
            request = invoice[e] if need[edge_seller[e]] > 0 else 0.0
            edge[c] = e
            willing[c] = request if draw[e] < willingness else 0.0
            key[c] = draw[e]
            if willing[c] > 0:
                n_live += 1
            c += 1
    live = np.empty(n_live, np.int64)
    n_live = 0
    for c in range(n_core_edges):
        if willing[c] > 0:
            live[n_live] = c
            n_live += 1
    order = live[np.argsort(key[live], kind="mergesort")]  # stable: ties in edge order
    room = np.empty(n_cores)
    for k in range(n_cores):
        room[k] = max(core_line[k] - numpy_sum(core_conf[k]), 0.0)
    # ration each core's room in draw order, cores in turn, one running total throughout
    start = np.zeros(n_cores + 1, np.int64)
    for c in order:
        start[edge_core[edge[c]] + 1] += 1
    for k in range(n_cores):
        start[k + 1] += start[k]
    by_core = np.empty(n_live, np.int64)
    for c in order:
        k = edge_core[edge[c]]
        by_core[start[k]] = c
        start[k] += 1
    cs, base, k_prev = 0.0, 0.0, -1
    for c in by_core:
        k = edge_core[edge[c]]
        if k != k_prev:
            base, k_prev = cs, k
        cs += willing[c]
        before = cs - willing[c] - base
        confirmed[edge[c]] = min(max(max(room[k], 0.0) - before, 0.0), willing[c])
    if not with_bills or len(to_sme) == 0:
        return invoice, confirmed, bills
    # tier 1 passes bills on its main core's confirmation down to tier 2
    want = np.empty(len(to_sme))
    total = np.zeros(n)
    for q in range(len(to_sme)):
        e = to_sme[q]
        want[q] = invoice[e] if need[edge_seller[e]] > 0 else 0.0
        total[edge_buyer[e]] += want[q]
    passed = np.zeros(n)
    for q in range(len(to_sme)):
        e = to_sme[q]
        t1 = edge_buyer[e]
        pe = primary_edge[t1]
        pool = bill_pass_share * confirmed[max(pe, 0)] if pe >= 0 else 0.0
        bills[e] = want[q] * min(1.0, pool / total[t1] if total[t1] > 0 else 0.0)
        passed[t1] += bills[e]
    for i in range(n):
        if passed[i] > 0:
            pe = primary_edge[i]
            confirmed[pe] = max(confirmed[pe] - passed[i], 0.0)
    return invoice, confirmed, bills


@compiled
def after_clearing(need, sme, instrument, amount, month, last_short, guar_opened, guar):
    """What each SME got this month (its funded cells added in order, as `np.bincount`);
    marks the SMEs left short (got less than need by more than 1e-6) in `last_short` and the
    guarantee contracts opened this month (a guaranteed loan 12 months or more after the last
    contract began) in `guar_opened`."""
    got = np.zeros(len(need))
    for c in range(len(sme)):
        got[sme[c]] += amount[c]
        if instrument[c] == guar and month - guar_opened[sme[c]] >= 12:
            guar_opened[sme[c]] = month
    for i in range(len(need)):
        if got[i] < need[i] - 1e-6:
            last_short[i] = month
    return got
