"""The month's offers, SME by SME, in one compiled loop (numba; see simulation/kernels.py).

Each price and amount is the expression `offers.py` documents, written out per SME in the same
order of operations, so the offers are the NumPy ones bit for bit. The noisy PD estimates' `exp`
is the C library's, as `market.noisy_pd`'s (`kernels.c_exp`), so the offers are the same on
every machine. The delay factor is worked out in `offers._params` and passed in.
"""

from __future__ import annotations

import numpy as np

from simulation.clear_loop import bids
from simulation.kernels import compiled, minimum
from simulation.market import CONF, CREDIT, FACTOR, GUAR, ORDER, PLEDGE, PREPAY

# scalar parameters, by position in the `p` array handed to `price_offers`
(FUNDING_RATE, MARGIN, FIXED_COST, LGD, ADVANCE, PLEDGE_HAIRCUT, MAX_RATE, APP_COST, TERM,
 COST_SHARE, PER_FIRM_CAP, COVERAGE, G_MAX_PD, OUTREACH, DELAY_FACTOR, F_MAX_PD, F_ADVANCE,
 F_MARGIN, ADDITIONAL_ONLY) = range(19)
N_PARAMS = 19


@compiled
def _noisy(pd, scale, drift, z):
    """`market.noisy_pd` for one SME: min(pd x exp(scale x z - drift), 1), as `np.minimum`."""
    return minimum(pd * np.exp(scale * z - drift), 1.0)


@compiled
def edge_totals(n, edge_seller, confirmed, bills, edge_pd, invoice):
    """Per SME: receivables confirmed or billed (conf_total), the PD of the cores behind them
    weighted by amount (core_pd, 0 where none), and invoices (inv_total); per-SME sums in edge
    order, as `np.bincount` adds them."""
    conf_total = np.zeros(n)
    weighted = np.zeros(n)
    inv_total = np.zeros(n)
    for e in range(len(edge_seller)):
        i = edge_seller[e]
        backed = confirmed[e] + bills[e]
        conf_total[i] += backed
        weighted[i] += backed * edge_pd[e]
        inv_total[i] += invoice[e]
    core_pd = np.zeros(n)
    for i in range(n):
        if conf_total[i] > 0:
            core_pd[i] = weighted[i] / conf_total[i]
    return conf_total, core_pd, inv_total


@compiled
def price_offers(p, z, true_pd, noise_bank, drift_bank, noise_factor, drift_factor, pd_bank,
                 bank_max_pd, need, sales, quality, alive, bank_access,
                 order_ok, shared, distributor, upstream, contract, conf_rate, credit_cap,
                 opacity, fee, own_core_pd, conf_total, core_pd, inv_total, credit_out,
                 guar_out, hurdle, bank_rated, amount, rate, app_rate, blocked, bidders, asked,
                 reset):
    """Fill `amount` and `rate` (n, I), `app_rate` and `blocked` (the need the guarantor would
    take but the bank refuses) for every SME, and `pd_bank`, the banks' noisy estimate of each
    SME's PD (the factor's, where it could buy, from the same draw `z`). See `offers.price`
    for what each line means. Returns (m, a): `bidders[:m]` are the SMEs in clearing's round 0
    (`clear_loop.bids`: need above 1e-9 and an offer), ascending; `asked[:a]` the SMEs
    with a need, whose offers were written.

    An SME with no need (most, in most months) gets no offers and no PD estimate (NaN): every
    reader of the offers reads them at funded cells, or at SMEs in need, only. `amount` and
    `rate` are kept from month to month with no offer (0, inf) in every row but those written:
    the rows of the SMEs `reset` (last month's `asked`) are set back first, and a row with no
    need is left as it is."""
    # every parameter in a local: the loop's stores cannot then make it reload them
    lgd, max_rate, advance, term, app_cost, fixed_cost = (
        p[LGD], p[MAX_RATE], p[ADVANCE], p[TERM], p[APP_COST], p[FIXED_COST])
    cost_share, cap, g_max_pd, delay = p[COST_SHARE], p[PER_FIRM_CAP], p[G_MAX_PD], p[DELAY_FACTOR]
    haircut, f_max_pd, f_advance = p[PLEDGE_HAIRCUT], p[F_MAX_PD], p[F_ADVANCE]
    additional_only = p[ADDITIONAL_ONLY] != 0
    fr_margin = p[FUNDING_RATE] + p[MARGIN]
    fr_f_margin = p[FUNDING_RATE] + p[F_MARGIN]
    one_less_cov = 1 - p[COVERAGE]
    one_less_cut = 1 - p[PLEDGE_HAIRCUT]
    keep_share = 1.0 - p[OUTREACH]
    for i in reset:
        for k in range(rate.shape[1]):
            rate[i, k] = np.inf
            amount[i, k] = 0.0
    n_bid, n_asked = 0, 0
    for i in range(len(need)):
        if not need[i] > 0.0:
            app_rate[i] = min(app_cost / 1.0, 0.5)  # as below, with no need: a stock of 1
            pd_bank[i] = np.nan
            blocked[i] = need[i] * 0.0
            continue
        asked[n_asked] = i
        n_asked += 1
        pdb, h = _noisy(true_pd[i], noise_bank[i], drift_bank[i], z[i]), hurdle[i]
        pd_bank[i] = pdb
        stock = max(need[i] * term, 1.0)
        app = min(app_cost / stock, 0.5)
        app_rate[i] = app
        base = fr_margin + fixed_cost * (1.0 - 0.5 * quality[i]) / stock
        access = bank_access[i] & alive[i]
        bmax = bank_max_pd[i]
        own = 0.0

        # confirmed receivables and bills, on the core's risk
        conf_amt = advance * conf_total[i]
        conf_ok = conf_total[i] > 0
        _offer(CONF, i, conf_ok, conf_amt, conf_rate[i] + core_pd[i] * lgd, h, bank_rated,
               max_rate, amount, rate)
        if conf_ok:
            own += conf_amt
        # order-stage finance
        order_amt = max(advance * inv_total[i] - conf_amt, 0.0)
        secured_ok = 0.5 * pdb <= bmax
        ok = order_ok[i] & access & (order_amt > 0) & secured_ok
        _offer(ORDER, i, ok, order_amt, base + 0.5 * pdb * lgd + app, h, bank_rated, max_rate,
               amount, rate)
        if ok:
            own += order_amt
        # distributors: prepayment and pledged inventory
        dist = distributor[i] & access & secured_ok
        purchase = cost_share * sales[i]
        pre = dist & shared[i]
        pre_amt = advance * purchase
        _offer(PREPAY, i, pre, pre_amt, base + 0.5 * (own_core_pd[i] + pdb) * lgd, h,
               bank_rated, max_rate, amount, rate)
        if pre:
            own += pre_amt
        pledge_amt = one_less_cut * purchase
        _offer(PLEDGE, i, dist, pledge_amt, base + 0.01 + pdb * lgd * haircut + app,
               h, bank_rated, max_rate, amount, rate)
        if dist:
            own += pledge_amt
        # unsecured credit
        limit = credit_cap[i] - credit_out[i]
        credit_rate = base + pdb * lgd + opacity[i] + app
        cok = access & (pdb <= bmax) & (limit > 0) & (not credit_rate > max_rate)
        _offer(CREDIT, i, cok, limit, credit_rate, h, bank_rated, max_rate, amount, rate)
        if cok:
            own += limit
        # guaranteed loans
        in_time = 1.0 if contract[i] else delay
        cap_room = min(max(cap - guar_out[i], 0.0), need[i] / in_time)
        if additional_only and not need[i] > keep_share * own + 1e-9:
            cap_room = 0.0
        g_rate = base + pdb * lgd * one_less_cov + opacity[i] + fee[i] + 2 * app
        accepted = access & (pdb <= g_max_pd) & (cap_room > 0)
        bank_ok = (pdb * one_less_cov <= bmax) & (not g_rate > max_rate)
        blocked[i] = need[i] * (accepted & (not bank_ok))
        _offer(GUAR, i, accepted & bank_ok, cap_room * in_time, g_rate, h, bank_rated,
               max_rate, amount, rate)
        # unconfirmed factoring, at the SME's risk as the factor sees it (its estimate only
        # where it could buy: no offer is made elsewhere, whatever the rate)
        unconf = max(inv_total[i] - conf_total[i], 0.0)
        fok = alive[i] & upstream[i] & (unconf > 0)
        f_rate = np.inf
        if fok:
            pdf = _noisy(true_pd[i], noise_factor[i], drift_factor[i], z[i])
            fok = pdf <= f_max_pd
            f_rate = fr_f_margin + pdf * lgd
        _offer(FACTOR, i, fok, f_advance * unconf, f_rate, h, bank_rated, max_rate, amount,
               rate)
        if bids(need, rate, i):
            bidders[n_bid] = i
            n_bid += 1
    return n_bid, n_asked


@compiled
def _offer(k, i, ok, amt, r, hurdle, bank_rated, max_rate, amount, rate):
    """Offer instrument k to SME i where `ok`, unless the amount is nil, the rate passes the
    SME's hurdle, or a bank's rate passes its ceiling: then the rate is inf and the amount nil."""
    made = ok & (amt > 0) & (r <= hurdle) & (not (bank_rated[i, k] & (r > max_rate)))
    rate[i, k] = r if made else np.inf
    amount[i, k] = amt if made else 0.0
