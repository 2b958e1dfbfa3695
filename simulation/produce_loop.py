"""Production and delivery in one compiled loop (numba; see simulation/kernels.py).

Each quantity is the expression `production.produce` documents, worked out SME by SME and edge by
edge in the same order of operations; per-SME and per-core sums add as `np.bincount` (from zero,
in edge order), totals as NumPy's pairwise sum, and the three transfers post through
`kernels.move`, so balances, flows, receivables and arrears are the NumPy ones bit for bit. The
late-payment draws are made in NumPy beforehand, as before.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, move, numpy_sum, sparse_numpy_sum

KINDS = ("distributor_purchase", "production_cost", "core_sales")
LENDING_KINDS = ("lending",)
# accounts handed to `deliver`, by position
CORE0, OUTSIDE = range(2)
TO_CORE, TO_SME, TO_MARKET = 0, 1, 2  # (as simulation.networks)


@compiled
def deliver(balance, scratch, accounts, n, sales, outlay, reserve, alive, distributor, sme_core,
            edge_seller, edge_buyer, edge_kind, edge_weight, edge_core, to_sme, primary_edge,
            confirmed, bills, with_bills, draw, late_share, late_enforced, inputs, markup,
            recv_due, recv_late, bills_due, pay_out_due, core_conf, due):
    """Spend on production (within cash less the settlement reserve), deliver, book the
    receivables of slot `due` (late ones in `recv_late`), bills, outside payables and the
    cores' confirmations; the cores sell on. Returns (delivered share per SME, flows by KINDS,
    which transfers were made, the failing transfer or -1, arrears late, arrears late despite
    enforcement)."""
    core0, outside = accounts[CORE0], accounts[OUTSIDE]
    n_cores = core_conf.shape[0]
    flows = np.zeros(len(KINDS))
    made = np.zeros(len(KINDS), np.bool_)
    spend = np.empty(n)
    share = np.empty(n)
    n_dist = 0
    n_prod = 0
    for i in range(n):
        spend[i] = min(outlay[i], max(balance[i] - reserve[i], 0.0))
        share[i] = (spend[i] / outlay[i] if outlay[i] > 0 else 1.0) * alive[i]
        if spend[i] > 0:
            if distributor[i]:
                n_dist += 1
            else:
                n_prod += 1
    src_d = np.empty(n_dist, np.int64)
    dst_d = np.empty(n_dist, np.int64)
    amt_d = np.empty(n_dist)
    src_p = np.empty(n_prod, np.int64)
    amt_p = np.empty(n_prod)
    n_dist = 0
    n_prod = 0
    for i in range(n):
        if spend[i] > 0:
            if distributor[i]:
                src_d[n_dist], dst_d[n_dist], amt_d[n_dist] = i, core0 + sme_core[i], spend[i]
                n_dist += 1
            else:
                src_p[n_prod], amt_p[n_prod] = i, spend[i]
                n_prod += 1
    one_out = np.empty(1, np.int64)
    one_out[0] = outside
    if not move(balance, scratch, flows, made, 0, amt_d, src_d, False, dst_d, False):
        return share, flows, made, 0, 0.0, 0.0
    if not move(balance, scratch, flows, made, 1, amt_p, src_p, False, one_out, True):
        return share, flows, made, 1, 0.0, 0.0

    n_edges = len(edge_seller)
    amt = np.empty(n_edges)
    conf = np.zeros(n_edges)
    for e in range(n_edges):
        s = edge_seller[e]
        amt[e] = sales[s] * share[s] * edge_weight[e]
        if edge_kind[e] == TO_CORE:
            conf[e] = min(confirmed[e], amt[e])
    # bills split from tier-1 confirmations go to tier 2, paid by the core on the due date
    from_core = np.zeros(n_edges)
    n2 = len(to_sme)
    if with_bills:
        b2 = np.empty(n2)
        passed = np.zeros(n)
        for q in range(n2):
            e = to_sme[q]
            b2[q] = min(bills[e], amt[e])
            passed[edge_buyer[e]] += b2[q]
        scale = np.ones(n)
        for i in range(n):
            pe = primary_edge[i]
            room = max(amt[pe] - conf[pe], 0.0) if pe >= 0 else 0.0
            if passed[i] > room:
                scale[i] = room / passed[i]
        passed[:] = 0.0
        for q in range(n2):
            e = to_sme[q]
            t1 = edge_buyer[e]
            b2[q] = b2[q] * min(scale[t1], 1.0)
            passed[t1] += b2[q]
            bills_due[e] += b2[q]
            recv_due[e] += amt[e] - b2[q]
        for i in range(n):
            if primary_edge[i] >= 0:
                from_core[primary_edge[i]] = passed[i]
    else:
        for q in range(n2):
            e = to_sme[q]
            recv_due[e] += amt[e]

    # core edges: confirmed part on time, the rest late with the late-payment probability
    late_vals = np.empty(n_edges)
    late_enf = np.empty(n_edges)
    n_late, n_enf = 0, 0
    by_core = np.zeros(n_cores)
    revenue = np.zeros(n_cores)
    for e in range(n_edges):
        core_edge = edge_kind[e] == TO_CORE
        unconf = max(amt[e] - conf[e] - from_core[e], 0.0) if core_edge else 0.0
        would_be_late = draw[e] < late_share
        late = would_be_late and draw[e] < late_enforced
        recv_due[e] += conf[e] + (0.0 if late else unconf)
        recv_late[e] += unconf if late else 0.0
        if would_be_late:
            late_vals[n_late] = unconf
            n_late += 1
        if late:
            late_enf[n_enf] = unconf
            n_enf += 1
        if core_edge:
            c = max(edge_core[e], 0)
            by_core[c] += conf[e] + from_core[e]
            revenue[c] += amt[e]
    for c in range(n_cores):
        core_conf[c, due] += by_core[c]
    arrears_late = numpy_sum(late_vals[:n_late])
    arrears_enforced = numpy_sum(late_enf[:n_enf])
    # distributors sell to the end market, paid after the term
    for e in range(n_edges):
        if edge_kind[e] == TO_MARKET:
            recv_due[e] += amt[e]
    # tier-1 inputs tier 2 did not deliver are bought outside, on the same term
    delivered_in = np.zeros(n)
    for q in range(n2):
        e = to_sme[q]
        delivered_in[edge_buyer[e]] += amt[e]
    for i in range(n):
        pay_out_due[i] += max(inputs[i] - delivered_in[i], 0.0) * share[i]
    # the core sells on at its markup and is paid by the end market at once
    cores = np.empty(n_cores, np.int64)
    for c in range(n_cores):
        cores[c] = core0 + c
    sold = revenue * (1 + markup)
    if not move(balance, scratch, flows, made, 2, sold, one_out, True, cores, False):
        return share, flows, made, 2, arrears_late, arrears_enforced
    return share, flows, made, -1, arrears_late, arrears_enforced


@compiled
def lend(balance, scratch, lender, sme, amount, bank0, n_lenders, instrument, guar, fee_rate,
         years, waived, n):
    """Lenders pay out the funded cells (`lender`, `sme`, `amount`, in cell order): returns
    (flows by LENDING_KINDS, whether made, the failing transfer or -1, principal lent per
    lender as `np.bincount` adds it, the government's fee subsidy: guaranteed amounts x fee
    rate x years for the waived SMEs, added as NumPy sums the column)."""
    flows = np.zeros(len(LENDING_KINDS))
    made = np.zeros(len(LENDING_KINDS), np.bool_)
    per_lender = np.zeros(n_lenders)
    src = np.empty(len(lender), np.int64)
    for c in range(len(lender)):
        src[c] = bank0 + lender[c]
    if not move(balance, scratch, flows, made, 0, amount, src, False, sme, False):
        return flows, made, 0, per_lender, 0.0
    for c in range(len(lender)):
        per_lender[lender[c]] += amount[c]
    # the subsidy column is zero but at the guaranteed cells (ascending SMEs, one each)
    g = np.flatnonzero(instrument == guar)
    at = sme[g]
    subsidy = np.empty(len(g))
    for v in range(len(g)):
        subsidy[v] = amount[g[v]] * fee_rate * years * (1.0 if waived[at[v]] else 0.0)
    return flows, made, -1, per_lender, sparse_numpy_sum(subsidy, at, n)
