"""A settlement group's loans, fees and payables in one compiled loop (numba; see kernels.py).

Each quantity is the expression `settlement._settle_group` documents, worked out in the same
order of operations, and every sum adds what the NumPy version added in its order (per-SME sums
as `np.bincount`, totals as NumPy's pairwise sum); the six transfers post through
`kernels.move`, so balances and flows are the NumPy ones bit for bit.
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, move, move_at, sparse_numpy_sum

# the group's transfers, in the order they are made (flows by kind)
KINDS = ("loan_repayment", "guarantee_fee", "trade_payment", "input_payment",
         "guarantee_payout", "reimbursement")
# the payments that come in before the groups settle (flows by kind)
PAYMENT_KINDS = ("core_payment", "market_payment", "bill_payment")
# accounts handed to `settle_group`, by position
BANK0, GUARANTOR, GOVERNMENT, OUTSIDE = range(4)


@compiled
def settle_group(balance, scratch, idx, pos, group_of, code, c_sme, c_inst, c_due, c_principal,
                 c_lender, fee_s, pe, edge_buyer, edge_seller, recv_h, pay_out_h, guar_lender,
                 alive, defaulted, accounts, coverage, reimb_share, n_lenders, conf, guar):
    """Settle the SMEs `idx` (code `code` in `group_of`; `pos` their positions in idx) on the
    cohort's cells (c_*, in cell order), their fees `fee_s`, the payables on edges `pe` and
    outside payables. Returns (flows by KINDS, which transfers were made, the failing
    transfer or -1, guarantee payouts, reimbursement, income, principal and bad principal
    by lender)."""
    bank0, guarantor = accounts[BANK0], accounts[GUARANTOR]
    government, outside = accounts[GOVERNMENT], accounts[OUTSIDE]
    m = len(idx)
    flows = np.zeros(len(KINDS))
    made = np.zeros(len(KINDS), np.bool_)
    inc = np.zeros(n_lenders)
    prin = np.zeros(n_lenders)
    badp = np.zeros(n_lenders)
    # the group's loans, in cell order
    nl = 0
    for c in range(len(c_sme)):
        if group_of[c_sme[c]] == code:
            nl += 1
    sme = np.empty(nl, np.int64)
    inst = np.empty(nl, np.int64)
    due = np.empty(nl)
    principal = np.empty(nl)
    lender = np.empty(nl, np.int64)
    j = np.empty(nl, np.int64)
    nl = 0
    for c in range(len(c_sme)):
        if group_of[c_sme[c]] == code:
            sme[nl], inst[nl], due[nl] = c_sme[c], c_inst[c], c_due[c]
            principal[nl], lender[nl], j[nl] = c_principal[c], c_lender[c], pos[c_sme[c]]
            nl += 1
    # what each SME owes: loans, fees, payables to tier 2 and outside
    owed_loans = np.zeros(m)
    due_conf = np.zeros(m)
    for q in range(nl):
        owed_loans[j[q]] += due[q]
        if inst[q] == conf:
            due_conf[j[q]] = due[q]
    n_pe = len(pe)
    buyer = np.empty(n_pe, np.int64)
    seller = np.empty(n_pe, np.int64)
    recv_pe = np.empty(n_pe)
    payables = np.zeros(m)
    for q in range(n_pe):
        e = pe[q]
        buyer[q], seller[q], recv_pe[q] = edge_buyer[e], edge_seller[e], recv_h[e]
        payables[pos[buyer[q]]] += recv_pe[q]
    fee = np.empty(m)
    out_due = np.empty(m)
    owed = np.empty(m)
    cash = np.empty(m)
    paid_conf = np.empty(m)
    phi = np.empty(m)
    f_at = np.empty(m, np.int64)  # the SMEs with a fee, and with outside payables, due
    o_at = np.empty(m, np.int64)
    nf, no, nan_phi = 0, 0, False
    for q in range(m):
        fee[q], out_due[q] = fee_s[idx[q]], pay_out_h[idx[q]]
        owed[q] = owed_loans[q] + fee[q] + payables[q] + out_due[q]
        cash[q] = max(balance[idx[q]], 0.0)
        paid_conf[q] = min(cash[q], due_conf[q])
        other = owed[q] - due_conf[q]
        x = (cash[q] - paid_conf[q]) / other if other > 0 else 1.0
        phi[q] = min(max(x, 0.0), 1.0)
        nan_phi |= phi[q] != phi[q]
        # (each position written, and kept where not zero: no branch to mispredict)
        f_at[nf] = q
        nf += fee[q] != 0
        o_at[no] = q
        no += out_due[q] != 0
    paid = np.empty(nl)
    for q in range(nl):
        paid[q] = paid_conf[j[q]] if inst[q] == conf else due[q] * phi[j[q]]

    one = np.empty(1, np.int64)
    one[0] = guarantor
    one_out = np.empty(1, np.int64)
    one_out[0] = outside
    trade = np.empty(n_pe)
    for q in range(n_pe):
        trade[q] = recv_pe[q] * phi[pos[buyer[q]]]
    failed = -1
    if not move(balance, scratch, flows, made, 0, paid, sme, False, bank0 + lender, False):
        failed = 0
    elif not _move_scaled(balance, scratch, flows, made, 1, fee, phi, f_at[:nf], nan_phi, idx,
                          one):
        failed = 1
    elif not move(balance, scratch, flows, made, 2, trade, buyer, False, seller, False):
        failed = 2
    elif not _move_scaled(balance, scratch, flows, made, 3, out_due, phi, o_at[:no], nan_phi,
                          idx, one_out):
        failed = 3
    if failed >= 0:
        return flows, made, failed, 0.0, 0.0, inc, prin, badp

    # the guarantor covers its share of a guaranteed loan's loss, within its cash: payouts
    # are kept at the SMEs with a guaranteed loan due (positions g_at), zero elsewhere
    short = due - paid
    g_q = np.flatnonzero(inst == guar)  # the guaranteed cells (one an SME, in SME order)
    ng = len(g_q)
    g_at = j[g_q]
    payout = coverage * short[g_q]
    g_cell = np.full(nl, -1, np.int64)  # each guaranteed cell's place in g_at
    g_cell[g_q] = np.arange(ng)
    total = sparse_numpy_sum(payout, g_at, m)
    if total > 0:
        # scaled payouts can overdraw the guarantor by a rounding error (-1e-13); cash at
        # or below zero pays nothing, never a negative payout
        x = (balance[guarantor] if balance[guarantor] > 0.0 else 0.0) / total
        payout *= x if x < 1.0 else 1.0
    to = np.empty(ng, np.int64)
    for v in range(ng):
        to[v] = bank0 + guar_lender[idx[g_at[v]]]
    done = move_at(balance, scratch, flows, made, 4, m, payout, g_at, one, True, to, False)
    if done == -1:  # too many payouts to leave the zeros out: the full array of m
        full = np.zeros(m)
        full_to = np.empty(m, np.int64)
        for q in range(m):
            full_to[q] = bank0 + guar_lender[idx[q]]
        for v in range(ng):
            full[g_at[v]] = payout[v]
        done = 1 if move(balance, scratch, flows, made, 4, full, one, True, full_to,
                         False) else 0
    if done == 0:
        return flows, made, 4, 0.0, 0.0, inc, prin, badp
    paid_out = sparse_numpy_sum(payout, g_at, m)
    reimb = reimb_share * paid_out
    if reimb < 0:
        return flows, made, 5, 0.0, 0.0, inc, prin, badp
    flows[5] += reimb
    made[5] = True
    balance[government] -= reimb
    balance[guarantor] += reimb

    for q in range(nl):
        income = paid[q] - principal[q]
        if inst[q] == guar:
            income += payout[g_cell[q]]
        inc[lender[q]] += income
        prin[lender[q]] += principal[q]
        badp[lender[q]] += principal[q] * (short[q] > 1e-9)
    for q in range(m):
        if alive[idx[q]] and cash[q] + 1e-9 < owed[q]:
            defaulted[idx[q]] = True
            alive[idx[q]] = False
    return flows, made, -1, paid_out, reimb, inc, prin, badp


@compiled
def _move_scaled(balance, scratch, flows, made, kind, base, phi, at, nan_phi, idx, dst):
    """`move` of base x phi (per SME of the group, zero where `base` is) from each SME to the
    one account `dst`: only the SMEs `at` (where base is not zero) unless the amounts are
    dense or a phi is NaN (then NaN x 0 is not zero), when the full array is moved."""
    if not nan_phi:
        values = np.empty(len(at))
        src = np.empty(len(at), np.int64)
        for v in range(len(at)):
            values[v] = base[at[v]] * phi[at[v]]
            src[v] = idx[at[v]]
        done = move_at(balance, scratch, flows, made, kind, len(base), values, at, src, False,
                       dst, True)
        if done >= 0:
            return done == 1
    return move(balance, scratch, flows, made, kind, base * phi, idx, False, dst, True)


@compiled
def payments_in(balance, scratch, recv_h, bills_h, e_core, core_payer, core_payee, e_mkt,
                outside, mkt_payee, e2, bill_payer, bill_payee):
    """This month's receivables paid in, as three transfers (PAYMENT_KINDS): cores pay their
    suppliers, the end market pays, cores pay the bills passed to tier 2. Returns (flows,
    which were made, the failing transfer or -1)."""
    flows = np.zeros(len(PAYMENT_KINDS))
    made = np.zeros(len(PAYMENT_KINDS), np.bool_)
    one = np.empty(1, np.int64)
    one[0] = outside
    if not move(balance, scratch, flows, made, 0, recv_h[e_core], core_payer, False,
                core_payee, False):
        return flows, made, 0
    if not move(balance, scratch, flows, made, 1, recv_h[e_mkt], one, True, mkt_payee, False):
        return flows, made, 1
    if not move(balance, scratch, flows, made, 2, bills_h[e2], bill_payer, False, bill_payee,
                False):
        return flows, made, 2
    return flows, made, -1
