"""Market clearing in one compiled loop (numba; see simulation/kernels.py).

The rounds of `market.clear_cells`, SME by SME: round r gives each SME still in need its r-th
cheapest offer (ties: the lower instrument); the guarantor, then each lender, serves requests
safest first within its room. Every sum adds what the NumPy version added, in its order: running
totals as `np.cumsum` over the requests in serving order (lender by lender), each lender's
take as `np.bincount` in SME order, the guarantor's as NumPy's pairwise sum of the round's
guarantee column. So the funded cells are the NumPy ones bit for bit.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, numpy_sum

NEED_EPS = 1e-9  # a need at or below this is met


@compiled
def bids(need, rate, i):
    """Whether SME i takes part in round 0: need above 1e-9 and at least one finite offer
    (`rate` is (n, I))."""
    if need[i] > NEED_EPS:
        for k in range(rate.shape[1]):
            if np.isfinite(rate[i, k]):
                return True
    return False


@compiled
def in_need(need, rate):
    """The SMEs that take part in round 0 (`bids`), ascending."""
    rows = np.empty(rate.shape[0], np.int64)
    m = 0
    for i in range(rate.shape[0]):
        if bids(need, rate, i):
            rows[m] = i
            m += 1
    return rows[:m]


@compiled
def charges_at(app_rate, fee, sme, instrument, applied, guar):
    """The fees and application costs in each (sme, instrument) cell's rate: the application
    cost where one is `applied`, the guarantee fee plus two applications on a guarantee."""
    out = np.empty(len(sme))
    for c in range(len(sme)):
        i, k = sme[c], instrument[c]
        if k == guar:
            out[c] = fee[i] + 2 * app_rate[i]
        else:
            out[c] = app_rate[i] if applied[k] else 0.0
    return out


@compiled
def stable_order(priority, idx):
    """`idx` sorted by priority, ties by position: a stable sort (merge sort), faster than
    `market.priority_order`'s NumPy passes for a few thousand SMEs, slower beyond."""
    p = np.empty(len(idx))
    for j in range(len(idx)):
        p[j] = priority[idx[j]]
    return idx[np.argsort(p, kind="mergesort")]


@compiled
def order_keys(priority, idx):
    """Sort keys for `market.priority_order`: each SME's priority's leading bits (the order of
    non-negative floats is that of their bits) with its position below them. Empty when a
    priority is negative, -0.0 or NaN (then only a comparison sort orders them)."""
    m = len(idx)
    bits = 0
    while (1 << bits) < m:
        bits += 1
    keys = np.empty(m, np.int64)
    p = np.empty(1)
    as_int = p.view(np.int64)
    for j in range(m):
        p[0] = priority[idx[j]]
        v = as_int[0]
        if v < 0 or p[0] != p[0]:
            return np.empty(0, np.int64), bits
        keys[j] = (v >> bits << bits) | j
    return keys, bits


@compiled
def keyed_order(keys, bits, priority, idx):
    """`idx` in the order of the sorted `keys` (`order_keys`), runs of equal leading bits then
    put in exact order (priority, then position): a stable sort by priority."""
    m = len(keys)
    low = (1 << bits) - 1
    o = np.empty(m, np.int64)
    for j in range(m):
        o[j] = keys[j] & low
    lo = 0
    while lo < m:
        hi = lo + 1
        while hi < m and (keys[hi] >> bits) == (keys[lo] >> bits):
            hi += 1
        if hi - lo > 32:  # (long runs: equal priorities, or apart in their last bits only)
            run = o[lo:hi].copy()
            p = np.empty(hi - lo)
            for a in range(hi - lo):
                p[a] = priority[idx[run[a]]]
            o[lo:hi] = run[np.argsort(p, kind="mergesort")]
        else:
            for a in range(lo + 1, hi):  # insertion (stable: ties keep their order)
                x = o[a]
                px = priority[idx[x]]
                b = a
                while b > lo and priority[idx[o[b - 1]]] > px:
                    o[b] = o[b - 1]
                    b -= 1
                o[b] = x
        lo = hi
    out = np.empty(m, idx.dtype)
    for j in range(m):
        out[j] = idx[o[j]]
    return out


@compiled
def _ranks(rate, rows):
    """Each SME's finite offers, cheapest first (ties: the lower instrument), and their count,
    for the SMEs `rows` (the other rows are left unset)."""
    n, n_instr = rate.shape
    rank = np.empty((n, n_instr), np.int8)
    n_off = np.empty(n, np.int64)
    for i in rows:
        c = 0
        for k in range(n_instr):
            r = rate[i, k]
            if not np.isfinite(r):
                continue
            j = c  # insert after every offer at least as cheap: a stable sort
            while j > 0 and rate[i, rank[i, j - 1]] > r:
                rank[i, j] = rank[i, j - 1]
                j -= 1
            rank[i, j] = k
            c += 1
        n_off[i] = c
    return rank, n_off


@compiled
def clear_rounds(need, rate, amount, lender, rows, order, lender_room, guarantor_room, guar):
    """Clear the market; returns the funded (SME, instrument, amount) in SME-then-instrument
    order. `rate` and `amount` are (n, I), `lender` the flat (I, n) array, `rows` the SMEs
    taking part (need above 1e-9 and an offer) by index and `order` the same safest first;
    `lender_room` is consumed."""
    n, n_instr = rate.shape
    n_lenders = len(lender_room)
    rows = rows.copy()  # (compacted round by round)
    rank, n_off = _ranks(rate, rows)
    serve = order.copy()
    m = len(rows)
    # per SME, set (and read) for the SMEs in `rows` only
    remaining = np.empty(n)
    for i in rows:
        remaining[i] = need[i]
    k_of = np.empty(n, np.int64)
    req = np.empty(n)
    acc = np.empty(n)
    g_room = guarantor_room
    cap = 0
    for i in rows:
        cap += n_off[i]
    out_sme = np.empty(cap, np.int64)
    out_k = np.empty(cap, np.int64)
    out_amt = np.empty(cap)
    n_out = 0
    count = np.zeros(n_lenders + 1, np.int64)
    by_lender = np.empty(m, np.int64)
    lend = np.empty(n, np.int64)  # the lender of each SME's offer this round
    sv_req = np.empty(m)  # this round's requests, in serving order
    sv_g = np.empty(m, np.int64)  # ... their lenders
    sv_guar = np.empty(m, np.bool_)  # ... whether each is a guarantee
    took = np.zeros(n_lenders)
    for r in range(n_instr):
        if m == 0:
            break
        any_req = False
        any_g = False
        for p in range(m):
            i = rows[p]
            k = np.int64(rank[i, r])
            k_of[i] = k
            lend[i] = lender[k * n + i]
            q = remaining[i] if remaining[i] < amount[i, k] else amount[i, k]
            if not remaining[i] > NEED_EPS:
                q = 0.0
            req[i] = max(q, 0.0)
            acc[i] = 0.0
            any_req |= req[i] > 0
            any_g |= k == guar
        if any_req:
            # the round's requests in serving order, gathered once: the passes below then
            # read them in turn rather than jumping across the SMEs
            for p in range(m):
                i = serve[p]
                sv_req[p] = req[i]
                sv_g[p] = lend[i]
                sv_guar[p] = k_of[i] == guar
            if any_g:  # the guarantor serves its requests first, safest first
                cs = 0.0
                room = max(g_room, 0.0)
                for p in range(m):
                    if sv_guar[p] and sv_req[p] > 0:
                        cs += sv_req[p]
                        sv_req[p] = min(max(room - (cs - sv_req[p]), 0.0), sv_req[p])
            # the lenders, each in turn (a stable sort of the serving order by lender)
            count[:] = 0
            for p in range(m):
                if sv_req[p] > 0:
                    count[sv_g[p] + 1] += 1
            for g in range(n_lenders):
                count[g + 1] += count[g]
            for p in range(m):
                if sv_req[p] > 0:
                    g = sv_g[p]
                    by_lender[count[g]] = p
                    count[g] += 1
            cs = 0.0
            base = 0.0
            g_prev = -1
            for q in range(count[n_lenders - 1]):
                p = by_lender[q]
                g = sv_g[p]
                if g != g_prev:
                    base = cs
                    g_prev = g
                r_p = sv_req[p]
                cs += r_p
                before = cs - r_p - base
                acc[serve[p]] = min(max(max(lender_room[g], 0.0) - before, 0.0), r_p)
            took[:] = 0.0
            acc_g = False
            for p in range(m):
                i = rows[p]
                took[lend[i]] += acc[i]
                acc_g |= k_of[i] == guar and acc[i] != 0
            for g in range(n_lenders):
                lender_room[g] -= took[g]
            if acc_g:
                # the guarantor's room falls by what it guaranteed this round, summed over
                # the round's guarantees in SME order as NumPy sums an array
                col = np.empty(m)
                c = 0
                for p in range(m):
                    i = rows[p]
                    if k_of[i] == guar:
                        col[c] = acc[i]
                        c += 1
                g_room -= numpy_sum(col[:c])
            for p in range(m):
                i = rows[p]
                if acc[i] != 0:
                    out_sme[n_out] = i
                    out_k[n_out] = k_of[i]
                    out_amt[n_out] = acc[i]
                    n_out += 1
                remaining[i] -= acc[i]
        # next round: SMEs still in need with an offer left
        _keep(serve, m, remaining, n_off, r + 1)
        m = _keep(rows, m, remaining, n_off, r + 1)
    return _by_cell(out_sme[:n_out], out_k[:n_out], out_amt[:n_out], n)


@compiled
def _keep(ids, m, remaining, n_off, rounds):
    """Compact ids[:m] in place to the SMEs still in need with more than `rounds` offers."""
    kept = 0
    for p in range(m):
        i = ids[p]
        if remaining[i] > NEED_EPS and n_off[i] > rounds:
            ids[kept] = i
            kept += 1
    return kept


@compiled
def _by_cell(sme, k, amt, n):
    """Funded cells in SME-then-instrument order (each SME funds each instrument once)."""
    start = np.zeros(n + 1, np.int64)
    for i in sme:
        start[i + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    o_sme = np.empty(len(sme), np.int64)
    o_k = np.empty(len(sme), np.int64)
    o_amt = np.empty(len(sme))
    fill = start[:-1].copy()
    for j in range(len(sme)):
        i = sme[j]
        p = fill[i]
        while p > start[i] and o_k[p - 1] > k[j]:  # insertion by instrument within the SME
            o_k[p] = o_k[p - 1]
            o_amt[p] = o_amt[p - 1]
            p -= 1
        o_k[p] = k[j]
        o_amt[p] = 0.0 + amt[j]
        o_sme[fill[i]] = i
        fill[i] += 1
    return o_sme, o_k, o_amt
