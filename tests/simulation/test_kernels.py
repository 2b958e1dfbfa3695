"""Compiled kernels add in NumPy's order: their results equal the NumPy code they replace."""


import numpy as np
import pytest

from simulation import clear_loop, kernels, offers
from simulation import market as mk
from simulation.kernels import c_exp
from simulation.metrics import breakdown_cells
from simulation.model import SCFModel
from simulation.scenario import load_scenario


def _codes(rng, n):
    """Three disjoint breakdowns of n SMEs into groups 1-4, 5-7 and 8-10 (0 is "all")."""
    return np.stack(
        (rng.integers(1, 5, n), rng.integers(5, 8, n), rng.integers(8, 11, n))
    ).astype(np.int64)


def test_group_table_adds_as_bincount_per_breakdown():
    rng = np.random.default_rng(3)
    for n in (0, 1, 9, 1000, 40_001):
        codes = _codes(rng, n)
        x = rng.lognormal(0, 3, (5, n)) * (rng.random((5, n)) < 0.4)
        x[1] = -x[1]
        table = kernels.group_table(x, codes, 11)
        for c in range(5):
            plain = np.zeros(11)
            for b in codes:
                plain += np.bincount(b, x[c], minlength=11)
            assert np.array_equal(table[c], plain), (n, c)
        # "all" as the recorder takes it: NumPy's sum of each row, as of each row alone
        assert np.array_equal(x.sum(axis=1), np.array([row.copy().sum() for row in x]))


def test_numpy_sum_adds_as_numpy_does():
    """The compiled pairwise sum equals NumPy's sum bit for bit, at every length (partial
    sums of 8, halves past 128, well past NumPy's buffer of 8,192)."""
    rng = np.random.default_rng(5)
    lengths = [*range(300), 1000, 1023, 8191, 8192, 8193, 65_537, 500_001]
    for n in lengths:
        a = rng.lognormal(0, 3, n) * (rng.random(n) < 0.5)  # zeros too, as rounds leave them
        assert kernels.numpy_sum(a) == a.sum(), n
        assert kernels.pairwise_sum(a, 0, n) + 0.0 == a.sum(), n
    a = rng.lognormal(0, 3, 5000)
    assert kernels.pairwise_sum(a, 7, 3000) + 0.0 == a[7:3007].sum()


def test_cell_group_sums_add_as_bincount():
    rng = np.random.default_rng(4)
    n, cells = 3000, 5000
    codes = _codes(rng, n)
    sme = np.sort(rng.integers(0, n, cells))
    inst = rng.integers(0, 7, cells)
    v = rng.lognormal(2, 2, cells)
    out = kernels.cell_group_sums(inst, sme, v, codes, 7, 11)
    plain = sum(np.bincount(inst * 11 + b[sme], v, minlength=77) for b in codes).reshape(7, 11)
    plain[:, 0] = np.bincount(inst, v, minlength=7)
    assert np.array_equal(out, plain)


# ---------------------------------------------------------------- pricing, compiled vs NumPy


def _price_plain(model, s, lender, bank_rated, amount, rate):
    """Pricing as written in NumPy before it was compiled (offers._price at 6bbe29b)."""
    cfg = model.cfg
    b, g, f, acc = cfg.bank, cfg.guarantor, cfg.factoring, cfg.access
    n = len(s.pd)
    pd_bank = mk.noisy_pd(s.pd, s.noise_bank, s.drift_bank, s.z)
    pd_factor = mk.noisy_pd(s.pd, s.noise_factor, s.drift_factor, s.z)
    bank_max_pd = np.array([bk.max_pd for bk in model.banks])[lender[mk.CREDIT]]
    # Fixed costs belong to a facility renewed yearly, not to each month's drawdown: a month's
    # loan runs for the term and carries a twelfth of the year's cost, as an annual rate on it.
    stock = np.maximum(s.need * model.term, 1.0)
    app_cost = acc.application_cost * (acc.one_stop_factor if acc.one_stop else 1.0)
    app_rate = np.minimum(app_cost / stock, 0.5)
    base = b.funding_rate + b.margin + b.fixed_cost * (1.0 - 0.5 * s.quality) / stock
    access = s.bank_access & s.alive

    def offer(k: int, ok: np.ndarray, amt: np.ndarray, r: np.ndarray) -> None:
        """Offer instrument k where `ok`, unless the amount is nil or a bank's price passes
        its ceiling (the factor is not a bank): then the rate is inf and the amount nil."""
        made = ok & (amt > 0) & (r <= s.hurdle)
        if bank_rated[k].any():
            made &= ~(bank_rated[k] & (r > b.max_rate))
        rate[k] = np.where(made, r, np.inf)
        amount[k] = np.where(made, amt, 0.0)

    # confirmed receivables (and bills passed down by tier 1), priced on the core's risk
    conf_total, core_pd = s.conf_total, s.core_pd
    conf_amt = b.advance_rate * conf_total
    conf_ok = conf_total > 0
    offer(mk.CONF, conf_ok, conf_amt, s.conf_rate + core_pd * b.lgd)

    # order-stage finance on shared order data; the order is the collateral
    inv_total = s.inv_total
    order_amt = np.maximum(b.advance_rate * inv_total - conf_amt, 0.0)
    secured_ok = 0.5 * pd_bank <= bank_max_pd  # collateral halves the loss the bank sees
    ok = s.order_ok & access & (order_amt > 0) & secured_ok
    offer(mk.ORDER, ok, order_amt, base + 0.5 * pd_bank * b.lgd + app_rate)

    # distributors: prepayment on the core's shared sales data, or pledged inventory
    dist = s.distributor & access & secured_ok
    purchase = cfg.population.cost_share * s.sales
    pre = dist & s.shared
    pre_amt = b.advance_rate * purchase
    offer(mk.PREPAY, pre, pre_amt, base + 0.5 * (s.own_core_pd + pd_bank) * b.lgd)
    pledge_amt = (1 - b.pledge_haircut) * purchase
    offer(mk.PLEDGE, dist, pledge_amt,
          base + 0.01 + pd_bank * b.lgd * b.pledge_haircut + app_rate)

    # unsecured credit: limits grow with what the bank can see
    limit = s.credit_cap - s.credit_out
    credit_rate = base + pd_bank * b.lgd + s.opacity + app_rate
    cok = access & (pd_bank <= bank_max_pd) & (limit > 0) & ~(credit_rate > b.max_rate)
    offer(mk.CREDIT, cok, limit, credit_rate)

    # guaranteed loans: the guarantor screens on the bank's estimate; delay loses some orders;
    # with additionality it guarantees only what the bank would not lend on its own credit
    # (a firm under a guarantee contract draws at once; a new contract loses orders to delay)
    in_time = np.where(s.contract, 1.0, c_exp(
        -g.delay_months * (acc.one_stop_factor if acc.one_stop else 1.0)
        / cfg.population.order_patience_months))
    cap_room = np.minimum(np.maximum(g.per_firm_cap - s.guar_out, 0.0), s.need / in_time)
    if g.additional_only:
        # additionality: only firms the bank's own instruments leave short may apply, then for
        # as much of their need as they like at the price; a guarantor going out for business
        # (leverage floor) also takes the bank's borrowers
        own = np.zeros(n)
        for k_ok, k_amt in ((conf_ok, conf_amt), (ok, order_amt), (pre, pre_amt),
                            (dist, pledge_amt), (cok, limit)):  # in instrument order
            own += np.where(k_ok, k_amt, 0.0)
        short = s.need > (1.0 - model.guarantor.outreach) * own + 1e-9
        cap_room = np.where(short, cap_room, 0.0)
    # the guarantor takes the expected loss it covers; the bank still prices what it cannot see
    g_rate = base + pd_bank * b.lgd * (1 - g.coverage) + s.opacity + s.fee + 2 * app_rate
    accepted = access & (pd_bank <= model.guarantor.max_pd) & (cap_room > 0)
    bank_ok = (pd_bank * (1 - g.coverage) <= bank_max_pd) & ~(g_rate > b.max_rate)
    model.guarantor.note_demand(float((s.need * (accepted & ~bank_ok)).sum()))
    offer(mk.GUAR, accepted & bank_ok, cap_room * in_time, g_rate)

    # unconfirmed factoring with recourse, at the SME's risk as the factor sees it
    unconf = np.maximum(inv_total - conf_total, 0.0)
    fok = s.alive & s.upstream & (pd_factor <= f.max_pd) & (unconf > 0)
    offer(mk.FACTOR, fok, f.advance_rate * unconf, b.funding_rate + f.margin + pd_factor * b.lgd)
    return pd_bank, app_rate


def test_compiled_pricing_gives_the_numpy_offers_bit_for_bit(monkeypatch):
    """Every month of runs with and without additionality, a guarantor going out for
    business and repayment deferral: the compiled loop's offers equal the NumPy pricing's, cell
    for cell, for every SME with a need; an SME without one gets no offer and no PD estimate
    (the offer matrices are kept from month to month: rows written are set back); the bidders
    are `clear_loop.in_need` of the NumPy offers."""
    compiled_price = offers.price
    checked, asked = [], []

    def both(model, s):
        got = compiled_price(model, s)
        amount, rate, pd_bank, app_rate, blocked, bidders = got
        amount, rate = amount.T, rate.T  # (I, n), as the NumPy pricing writes them
        a, r = np.empty_like(amount), np.empty_like(rate)
        kept = model.guarantor.blocked
        pd_plain, app_plain = _price_plain(model, s, model.loans.lender.T, s.bank_rated.T, a, r)
        blocked_plain, model.guarantor.blocked = model.guarantor.blocked - kept, kept
        asks = s.need > 0
        asked.append(asks.mean())
        assert np.array_equal(a[:, asks], amount[:, asks])
        assert np.array_equal(r[:, asks], rate[:, asks])
        assert np.array_equal(pd_plain[asks], pd_bank[asks])
        assert (amount[:, ~asks] == 0).all() and np.isposinf(rate[:, ~asks]).all()
        assert np.isnan(pd_bank[~asks]).all()
        assert np.array_equal(app_plain, app_rate)
        assert float(blocked.sum()) == blocked_plain
        assert np.array_equal(bidders, clear_loop.in_need(s.need, np.ascontiguousarray(r.T)))
        checked.append(np.isfinite(rate).sum(axis=1))
        return got

    monkeypatch.setattr(offers, "price", both)
    for name, overrides in (
        ("baselines/shanghai", {}),
        ("levers/guarantor_mandate", {}),
        ("baselines/core_led", {"chain.type": "mixed", "guarantor.additional_only": False,
                                "access.one_stop": True}),
        ("packages/shanghai_2020", {}),  # deferral from month 14 writes rates after pricing
    ):
        model = SCFModel(load_scenario(name, {"population.n_smes": 1500, **overrides}), seed=7)
        for _ in range(17):
            model.step()
    offered = np.sum(checked, axis=0)
    assert (offered[[mk.CONF, mk.CREDIT, mk.GUAR, mk.FACTOR]] > 0).all()  # instruments used
    assert min(asked) > 0.05 and max(asked) < 0.95  # SMEs with and without a need, each month


# ---------------------------------------------------------------- the ledger, compiled vs NumPy


def _transfer_plain(balance, flows, src, dst, amount, kind):
    """`Ledger.transfer` as written in NumPy before it was compiled (ledger.py at 56bd976)."""
    amount = np.asarray(amount, dtype=float)
    if amount.size == 0:
        return
    flat = amount.ravel()
    if flat.min() < 0:
        raise ValueError(f"negative transfer in {kind}")
    flows[kind] = flows.get(kind, 0.0) + float(amount.sum())
    src, dst = np.asarray(src), np.asarray(dst)
    if flat.size > 64:
        moved = np.flatnonzero(flat)
        if len(moved) < flat.size // 2:
            flat = flat[moved]
            src = src if src.size == 1 else src.ravel()[moved]
            dst = dst if dst.size == 1 else dst.ravel()[moved]
            if not flat.size:
                return
    for accounts, sign in ((src, -1.0), (dst, 1.0)):
        if accounts.ndim == 0:
            total = np.cumsum(flat)[-1] if len(flat) > 1 else flat[0]
            balance[accounts] += sign * total
            continue
        acc = np.broadcast_to(accounts, (len(flat),)) if accounts.size == 1 else accounts.ravel()
        lo, hi = int(acc.min()), int(acc.max())
        sums = np.bincount(acc - lo if lo else acc, flat, minlength=hi - lo + 1)
        if sign > 0:
            balance[lo:hi + 1] += sums
        else:
            balance[lo:hi + 1] -= sums


def test_sparse_sum_and_move_leave_out_zeros_bit_for_bit():
    """The sum of an array given only by its non-zero values (and some zeros) and where they
    are equals NumPy's sum of the full array; a transfer given so moves money and books flows
    as `move` of the full array, or hands back (-1) when that array is too dense."""
    rng = np.random.default_rng(12)
    for trial in range(1500):
        n = int(rng.choice([0, 1, 7, 8, 9, 64, 65, 127, 128, 129, 300, 1000, 8193]))
        n = int(rng.integers(0, n + 1)) if trial % 2 else n
        share = rng.choice([0.0, 0.01, 0.2, 0.6, 1.0])
        dense = rng.lognormal(1, 3, n) * (rng.random(n) < share)
        pos = np.flatnonzero((dense != 0) | (rng.random(n) < 0.05))  # a few zeros given too
        values = dense[pos]
        assert kernels.sparse_numpy_sum(values, pos, n) == dense.sum(), trial
        accounts = rng.integers(0, 40, n)
        a = (rng.normal(0, 100, 60), np.zeros(60), np.zeros(3), np.zeros(3, np.bool_))
        b = tuple(x.copy() for x in a)
        one = np.array([int(rng.integers(40, 60))])
        done = kernels.move_at(*a, 1, n, values, pos, one, True, accounts[pos], False)
        ok = kernels.move(*b, 1, dense, one, True, accounts, False)
        sparse = n > 64 and np.count_nonzero(dense) < n // 2
        assert done == (1 if sparse or n == 0 else -1), trial
        assert ok
        if done == 1:
            for x, y in zip(a, b, strict=True):
                assert np.array_equal(x, y), trial
    negative = np.array([1.0, -1.0])
    a = (np.zeros(5), np.zeros(5), np.zeros(2), np.zeros(2, np.bool_))
    assert kernels.move_at(*a, 0, 100, negative, np.array([3, 9]), np.array([0]), True,
                           np.array([1, 2]), False) == 0
    assert not a[0].any() and not a[3].any()


def test_compiled_transfer_moves_money_as_the_numpy_one():
    """Random transfers (dense and mostly zero, scalar, one-account and per-amount accounts,
    repeated accounts; fewer amounts than accounts in their range, which move at the accounts
    met, and more) leave balances and flows bit for bit as the NumPy transfer did."""
    from simulation.ledger import Ledger

    rng = np.random.default_rng(6)
    led = Ledger(300, 20, 4)
    plain_balance, plain_flows = led.balance.copy(), {}
    n_acc = len(led.balance)
    for trial in range(400):
        size = int(rng.choice([1, 2, 5, 64, 65, 200, 3000]))
        amount = rng.lognormal(2, 3, size) * (rng.random(size) < rng.choice([0.05, 0.5, 1.0]))

        def accounts(size=size):
            kind = rng.integers(3)
            if kind == 0:
                return int(rng.integers(n_acc))
            if kind == 1:
                return rng.integers(n_acc, size=1)
            return rng.integers(0, n_acc, size)

        src, dst = accounts(), accounts()
        if size == 1 and rng.random() < 0.5:
            amount = float(amount[0])
        kind = f"k{trial % 3}"
        led.transfer(src, dst, amount, kind)
        _transfer_plain(plain_balance, plain_flows, src, dst, amount, kind)
        assert led.balance.tobytes() == plain_balance.tobytes(), trial  # zeros' signs too
        assert dict(led.flows) == plain_flows, trial
    with pytest.raises(ValueError, match="negative transfer in bad"):
        led.transfer(np.arange(3), 5, np.array([1.0, -2.0, 3.0]), "bad")
    assert np.array_equal(led.balance, plain_balance) and "bad" not in led.flows


# ---------------------------------------------------------------- settlement, compiled vs NumPy


def _settle_group_plain(model, group, cohort, h, s, defaulted, totals):
    """A group's settlement as written in NumPy before it was compiled (settlement.py at
    a99c3b3; its transfers through the ledger)."""
    from dataclasses import fields

    from simulation import settlement
    from simulation.loans import Cohort

    sel = np.flatnonzero(model.settlement_plan.group_of[cohort.sme] == group.code)
    loans = Cohort(*(getattr(cohort, f.name)[sel] for f in fields(Cohort)))
    led, net, cfg = model.ledger, model.net, model.cfg
    n = model.n
    idx = group.idx
    m = len(idx)
    j = model.settlement_plan.pos[loans.sme]  # each loan's SME, as a position in idx
    fee = model.loans.fee[idx, s]
    pe = group.payable_edges
    payables = np.bincount(net.edge_buyer[pe], model.recv[pe, h], minlength=n)[idx]
    outside = model.pay_out[idx, h]
    owed = np.bincount(j, loans.due, minlength=m) + fee + payables + outside
    cash = np.maximum(led.balance[idx], 0.0)
    conf = loans.instrument == mk.CONF
    due_conf = np.zeros(m)
    due_conf[j[conf]] = loans.due[conf]
    paid_conf = np.minimum(cash, due_conf)
    other = owed - due_conf
    phi = np.divide(cash - paid_conf, other, out=np.ones(m), where=other > 0)
    phi = np.clip(phi, 0.0, 1.0)
    paid = loans.due * phi[j]
    paid[conf] = paid_conf[j[conf]]

    lender = loans.lender
    led.transfer(loans.sme, led.bank0 + lender, paid, "loan_repayment")
    led.transfer(idx, led.guarantor, fee * phi, "guarantee_fee")
    pos = np.zeros(n)
    pos[idx] = phi
    led.transfer(net.edge_buyer[pe], net.edge_seller[pe],
                 model.recv[pe, h] * pos[net.edge_buyer[pe]], "trade_payment")
    led.transfer(idx, led.outside, outside * phi, "input_payment")

    short = loans.due - paid
    bad = short > 1e-9
    # the guarantor covers its share of a guaranteed loan's loss, within its cash
    guar = loans.instrument == mk.GUAR
    g_loss = np.zeros(m)
    g_loss[j[guar]] = short[guar]
    payout = cfg.guarantor.coverage * g_loss
    scale = (min(1.0, max(led.balance[led.guarantor], 0.0) / payout.sum()) if payout.sum() > 0
             else 1.0)
    payout *= scale
    led.transfer(led.guarantor, led.bank0 + model.loans.lender[idx, mk.GUAR], payout,
                 "guarantee_payout")
    reimb = cfg.guarantor.reimbursement_share * payout.sum()
    led.transfer(led.government, led.guarantor, reimb, "reimbursement")
    model.guarantor.payouts[model.month % 12] += payout.sum()
    totals["payouts"] += float(payout.sum())
    totals["reimbursement"] += float(reimb)

    income = paid - loans.principal
    income[guar] += payout[j[guar]]
    n_lenders = len(model.banks) + 1
    inc = np.bincount(lender, income, minlength=n_lenders)
    prin = np.bincount(lender, loans.principal, minlength=n_lenders)
    badp = np.bincount(lender, loans.principal * bad, minlength=n_lenders)
    settlement.book_lenders(model, inc, prin, badp)

    newly = model.sme.alive[idx] & (cash + 1e-9 < owed)
    defaulted[idx[newly]] = True
    model.sme.alive[idx[newly]] = False


def _runs_match(monkeypatch, module, name, plain, scenario, overrides):
    """A run with `module.name` replaced by its NumPy version `plain` ends bit for bit as the
    compiled run: balances, flows, monthly rows and summary. Returns the summary."""
    import json

    def run():
        m = SCFModel(load_scenario(scenario, {"population.n_smes": 600, **overrides}), seed=3)
        for _ in range(24):
            m.step()
        return m

    fast = run()
    monkeypatch.setattr(module, name, plain)
    slow = run()
    assert np.array_equal(fast.ledger.balance, slow.ledger.balance)
    assert dict(fast.ledger.flows) == dict(slow.ledger.flows)
    assert fast.recorder.frame().equals(slow.recorder.frame())
    a, b = fast.recorder.summary(), slow.recorder.summary()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return a


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("packages/policy_package", {"population.pd_mean": 0.08, "guarantor.capital": 5.0}),
    ("packages/shanghai_2020", {"population.pd_mean": 0.12}),
    ("baselines/core_led", {}),
])
def test_compiled_settlement_settles_as_the_numpy_one(monkeypatch, scenario, overrides):
    """Whole runs (defaults, guarantee payouts within the guarantor's cash, reimbursements)
    end bit for bit the same with the NumPy settlement as with the compiled one."""
    from simulation import settlement

    summary = _runs_match(monkeypatch, settlement, "_settle_group", _settle_group_plain,
                          scenario, overrides)
    assert summary["sme_defaults"] > 0


def test_compiled_settlement_scales_payouts_to_the_guarantors_cash_as_the_numpy_one(
        monkeypatch):
    """With the guarantor left short of cash (1.0 before each settlement from month 20, once
    the 2020 package's guarantees have been written and start to fall due), payouts are scaled
    to its cash, and the run still ends bit for bit as with the NumPy settlement."""
    from simulation import model as model_module
    from simulation import settlement

    real = model_module.settle
    cut = []  # months whose payouts took all the guarantor's cash (then its reimbursement)

    def short_of_cash(m):
        led = m.ledger
        if m.month >= 19:
            led.balance[led.guarantor] = min(led.balance[led.guarantor], 1.0)
        before = led.flows.get("guarantee_payout", 0.0)
        out = real(m)
        paid = led.flows.get("guarantee_payout", 0.0) - before
        left = led.balance[led.guarantor] - m.cfg.guarantor.reimbursement_share * paid
        cut.append(paid > 1.0 and abs(left) < 1e-9 * paid)
        return out

    monkeypatch.setattr(model_module, "settle", short_of_cash)
    _runs_match(monkeypatch, settlement, "_settle_group", _settle_group_plain,
                "packages/shanghai_2020", {"population.pd_mean": 0.12})
    assert sum(cut) >= 4  # in both runs


# ---------------------------------------------------------------- production, compiled vs NumPy


def _produce_plain(model, sales, outlay, reserve, funded, rate, confirmed, bills, inputs):
    """Production and delivery as written in NumPy before they were compiled (production.py
    at 1f45a03; its transfers through the ledger)."""
    from simulation.networks import DISTRIBUTOR, TO_CORE, TO_MARKET
    from simulation.production import pay_out_loans

    led, net, cfg, n = model.ledger, model.net, model.cfg, model.n
    subsidy = pay_out_loans(model, funded, rate)
    cash = led.view(0, n)
    spend = np.minimum(outlay, np.maximum(cash - reserve, 0.0))
    share = np.divide(spend, outlay, out=np.ones(n), where=outlay > 0) * model.sme.alive
    dist = net.sme_role == DISTRIBUTOR
    idx = np.flatnonzero(dist & (spend > 0))
    led.transfer(idx, led.core0 + net.sme_core[idx], spend[idx], "distributor_purchase")
    idx = np.flatnonzero(~dist & (spend > 0))
    led.transfer(idx, led.outside, spend[idx], "production_cost")

    t, term, horizon = model.month, model.term, model.horizon
    due = (t + term) % horizon
    late_slot = (t + term + cfg.payment.late_months) % horizon
    amt = (sales * share)[net.edge_seller] * net.edge_weight
    e_core = net.edge_kind == TO_CORE
    conf = np.where(e_core, np.minimum(confirmed, amt), 0.0)

    # bills split from tier-1 confirmations go to tier 2, paid by the core on the due date
    e2 = model.to_sme
    t1 = net.edge_buyer[e2]
    from_core = np.zeros_like(amt)
    if cfg.core.supply_chain_bills:  # (without them there are none: nothing to split)
        b2 = np.minimum(bills[e2], amt[e2])
        passed = np.bincount(t1, b2, minlength=n)
        has_primary = model.primary_edge >= 0
        room = np.zeros(n)
        pe = model.primary_edge[has_primary]
        room[has_primary] = np.maximum(amt[pe] - conf[pe], 0.0)
        scale = np.divide(room, passed, out=np.ones(n), where=passed > room)
        b2 = b2 * np.minimum(scale, 1.0)[t1]
        passed = np.bincount(t1, b2, minlength=n)
        model.bills[e2, due] += b2
        model.recv[e2, due] += amt[e2] - b2
        from_core[pe] = passed[has_primary]
    else:
        model.recv[e2, due] += amt[e2]

    # core edges: confirmed part on time, the rest late with the late-payment probability
    unconf = np.where(e_core, np.maximum(amt - conf - from_core, 0.0), 0.0)
    draw = model.drawn.late
    would_be_late = draw < cfg.payment.late_share
    late = would_be_late & (draw < cfg.payment.late_share * (1 - cfg.payment.enforcement))
    model.recv[:, due] += conf + np.where(late, 0.0, unconf)
    model.recv[:, late_slot] += np.where(late, unconf, 0.0)
    core_of = np.maximum(model.edge_core, 0)
    model.core_conf[:, due] += np.bincount(core_of[e_core], (conf + from_core)[e_core],
                                           minlength=net.n_cores)
    model.arrears = (float(unconf[would_be_late].sum()), float(unconf[late].sum()))

    # distributors sell to the end market, paid after the term
    e_mkt = net.edge_kind == TO_MARKET
    model.recv[e_mkt, due] += amt[e_mkt]

    # tier-1 inputs tier 2 did not deliver are bought outside, on the same term
    delivered_in = np.bincount(t1, amt[e2], minlength=n)
    model.pay_out[:, due] += np.maximum(inputs - delivered_in, 0.0) * share

    # the core sells on at its markup and is paid by the end market at once
    revenue = np.bincount(core_of[e_core], amt[e_core], minlength=net.n_cores)
    led.transfer(led.outside, led.core0 + np.arange(net.n_cores),
                 revenue * (1 + cfg.core.markup), "core_sales")
    return share, subsidy


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("levers/supply_chain_bills", {}),
    ("levers/late_payment_enforcement", {}),
    ("packages/policy_package", {"population.pd_mean": 0.08}),
])
def test_compiled_production_delivers_as_the_numpy_one(monkeypatch, scenario, overrides):
    """Whole runs (bills split from confirmations, late payments with and without
    enforcement, distributors) end bit for bit the same with the NumPy production."""
    from simulation import model

    summary = _runs_match(monkeypatch, model, "produce", _produce_plain, scenario, overrides)
    assert summary["arrears_repaid_share"] < 1.0 or scenario.endswith("enforcement")


# ---------------------------------------------------------------- the recorder, compiled vs NumPy


def _month_table_plain(rec, r):
    """The recorder's group table, cost by instrument and status in NumPy, as before they
    were compiled (metrics.py at 2428574)."""
    from simulation.metrics import _IS_LOAN, _ROW, _ROWS, GROUPS, LOAN_MASK, SMALL_LOAN_CAP
    from simulation.metrics import VOLUME_COLUMNS as VOL

    m, n = rec.model, len(r.need)
    sme, inst, funded = r.funded.sme, r.funded.instrument, r.funded.amount
    rate = mk.at_cells(r.rate, r.funded)
    finite = np.isfinite(rate)
    loan = _IS_LOAN[inst]
    funded_tot = np.bincount(sme, funded, minlength=n)
    has_need = r.need > 1e-9
    full = has_need & (funded_tot >= r.need - 1e-6)
    cell_cost = funded * np.where(finite, rate, 0.0)
    balance = m.loans.principal_by_sme(LOAN_MASK)
    small = m.sme.alive & (balance > 0) & (balance <= SMALL_LOAN_CAP)
    x = np.zeros((len(_ROWS), n))
    for name, column in (("n_active", m.sme.alive), ("n_need", has_need), ("n_funded", full),
                         ("need", r.need), ("funded", np.minimum(funded_tot, r.need)),
                         ("sales", r.sales), ("cost", np.bincount(sme, cell_cost, minlength=n)),
                         ("lost_output", r.sales * (1 - r.delivered_share)),
                         ("sme_defaults", r.defaulted),
                         ("guarantee_outstanding", m.loans.outstanding(4)),
                         ("loan_balance", np.where(small, balance, 0.0)), ("borrowers", small)):
        x[_ROW[name]] = column
    x[_ROW["loan_interest"]] = np.bincount(
        sme[loan], (funded * np.where(finite, rate - r.charges[sme, inst], 0.0))[loan],
        minlength=n)
    x[_ROW["loan_volume"]] = np.bincount(sme[loan], funded[loan], minlength=n)
    x[_ROW[VOL[0]] + inst, sme] = funded
    table = kernels.group_table(x, rec.codes, len(GROUPS))
    table[:, 0] = x.sum(axis=1)
    cost_by = kernels.cell_group_sums(inst, sme, cell_cost, rec.codes, 7, len(GROUPS))
    status = np.where(has_need, np.where(full, 1, 2), 0)
    status[~m.sme.alive] = 3
    return table, cost_by, status.astype(np.int8)


def _assert_table_is(got, want, where):
    """The compiled recorder's (table, costs by instrument, status) against the NumPy ones:
    the costs and the status bit for bit, the counts exactly; every sum, which adds the SMEs'
    role x size x risk cells instead of the SMEs one by one ("all": the role groups' sums
    instead of NumPy's pairwise sum of the row), within 1e-12 relative (the same non-negative
    values added in another order)."""
    from simulation.metrics import _ROW

    (table, cost_by, status), (table0, cost_by0, status0) = got, want
    assert table.dtype == table0.dtype and status.dtype == status0.dtype, where
    assert np.allclose(table, table0, rtol=1e-12, atol=0.0, equal_nan=True), where
    assert np.array_equal(np.isnan(table), np.isnan(table0)), where
    for count in ("n_active", "n_need", "n_funded", "borrowers"):
        assert np.array_equal(table[_ROW[count]], table0[_ROW[count]]), (where, count)
    assert np.array_equal(cost_by, cost_by0, equal_nan=True), where
    assert np.array_equal(status, status0), where


def test_compiled_month_table_records_as_the_numpy_one(monkeypatch):
    """Every month of a stressed policy run, the compiled table, costs and status are the
    NumPy ones (bit for bit but for the "all" column's order of adds)."""
    from simulation import record_loop
    from simulation.metrics import Recorder

    seen = []
    original = record_loop.month_table

    def spy(*args):
        out = original(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(record_loop, "month_table", spy)
    scenario = load_scenario("packages/policy_package",
                             {"population.n_smes": 700, "population.pd_mean": 0.08})
    m = SCFModel(scenario, seed=4)

    def record(r):
        Recorder.record(m.recorder, r)
        _assert_table_is(seen.pop(), _month_table_plain(m.recorder, r), r.month)

    m.recorder.record = record
    for _ in range(20):
        m.step()
    assert len(m.recorder.rows) == 20 * 10 and not seen


# ---------------------------------------------------------------- confirmations and bills


def _confirm_and_bill_plain(model, need, sales, draw):
    """Confirmations and bills as written in NumPy before they were compiled (model.py and
    agents.py at a5c2f7a)."""
    net, cfg = model.net, model.cfg
    asking = need > 0
    invoice = sales[net.edge_seller] * net.edge_weight
    e_core = model.edge_core >= 0
    request = np.where(e_core & asking[net.edge_seller], invoice, 0.0)
    willing = np.where(draw[e_core] < cfg.core.confirm_willingness, request[e_core], 0.0)
    room = np.maximum(model.core_line - model.core_conf.sum(axis=1), 0.0)
    confirmed = np.zeros_like(invoice)
    confirmed[e_core] = mk.ration(willing, draw[e_core], model.edge_core[e_core].astype(np.int64),
                                  room)
    bills = np.zeros_like(invoice)
    if cfg.core.supply_chain_bills and len(model.to_sme):
        e = model.to_sme
        t1 = net.edge_buyer[e]
        pool = cfg.core.bill_pass_share * confirmed[np.maximum(model.primary_edge[t1], 0)]
        pool = np.where(model.primary_edge[t1] >= 0, pool, 0.0)
        want = np.where(asking[net.edge_seller[e]], invoice[e], 0.0)
        total = np.bincount(t1, want, minlength=model.n)[t1]
        bills[e] = want * np.minimum(1.0, np.divide(pool, total, out=np.zeros_like(pool),
                                                    where=total > 0))
        passed = np.bincount(t1, bills[e], minlength=model.n)
        pe = model.primary_edge[passed > 0]
        confirmed[pe] = np.maximum(confirmed[pe] - passed[passed > 0], 0.0)
    return invoice, confirmed, bills


@pytest.mark.parametrize("scenario", ["levers/supply_chain_bills", "packages/policy_package",
                                      "baselines/shanghai"])
def test_compiled_confirmations_and_bills_are_the_numpy_ones(monkeypatch, scenario):
    """Every month, the compiled confirmations and bills equal the NumPy ones bit for bit, with
    the cores' credit lines short (half a month of purchases), so that some invoices go
    unconfirmed."""
    from simulation import finance_loop

    original = finance_loop.confirm_and_bill
    m = SCFModel(load_scenario(scenario, {"population.n_smes": 700,
                                          "core.credit_line_months": 0.5}), seed=6)
    checked = []

    def spy(need, sales, *args):
        got = original(need, sales, *args)
        want = _confirm_and_bill_plain(m, need, sales, args[4])
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(a, b), m.month
        checked.append(float(got[1].sum()) < float((got[0] * (m.edge_core >= 0)).sum()))
        return got

    monkeypatch.setattr(finance_loop, "confirm_and_bill", spy)
    for _ in range(15):
        m.step()
    assert len(checked) == 15 and any(checked)


# ---------------------------------------------------------------- owners' payouts


def _net_worth_plain(model):
    """Net working capital in NumPy, as before it was compiled (model.py and loans.py at
    9f467f9)."""
    net, n, loans = model.net, model.n, model.loans
    claims = np.bincount(net.edge_seller, model.recv.sum(axis=1) + model.bills.sum(axis=1),
                         minlength=n)
    e2 = model.to_sme
    payables = (np.bincount(net.edge_buyer[e2], model.recv[e2].sum(axis=1), minlength=n)
                + model.pay_out.sum(axis=1))
    debt = loans.fee.sum(axis=1)
    for c in loans.cohorts:
        debt += np.bincount(c.sme, c.due, minlength=n)
    return model.ledger.view(0, n) + claims - payables - debt


def _owner_payouts_plain(model, worth):
    from simulation.model import RETAIN_MONTHS

    cash = model.ledger.view(0, model.n)
    keep = model.month - model.last_short < RETAIN_MONTHS
    excess = np.maximum(worth - model.equity_target, 0.0) * (model.sme.alive & ~keep)
    payout = np.minimum(model.cfg.population.payout_share * excess,
                        np.maximum(cash - model.cash_target, 0.0))
    idx = np.flatnonzero(payout > 0)
    return idx, payout[idx]


def _bits(a):
    return np.ascontiguousarray(a).view(np.int64)


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("packages/policy_package", {"population.pd_mean": 0.08}),
    ("levers/supply_chain_bills", {"payment.term_months": 6, "payment.late_months": 3}),
    ("baselines/shanghai", {}),
])
def test_compiled_net_worth_and_payouts_are_the_numpy_ones(monkeypatch, scenario, overrides):
    """Every month of a run (late payments, bills, guarantee fees; a payment horizon of 10
    months, past NumPy's 8-value blocks), the compiled net worth and owners' payouts equal the
    NumPy ones bit for bit, and owners are paid."""
    from simulation import owners_loop

    m = SCFModel(load_scenario(scenario, {"population.n_smes": 700, **overrides}), seed=5)
    original_worth, original_payouts = owners_loop.net_worth, owners_loop.owner_payouts
    paid = []

    def worth(*args):
        got = original_worth(*args)
        assert np.array_equal(_bits(got), _bits(_net_worth_plain(m))), m.month
        return got

    def payouts(w, *args):
        got = original_payouts(w, *args)
        want = _owner_payouts_plain(m, w)
        assert np.array_equal(got[0], want[0]), m.month
        assert np.array_equal(_bits(got[1]), _bits(want[1])), m.month
        paid.append(len(got[0]))
        return got

    monkeypatch.setattr(owners_loop, "net_worth", worth)
    monkeypatch.setattr(owners_loop, "owner_payouts", payouts)
    for _ in range(24):
        m.step()
    assert len(paid) == 24 and sum(paid) > 0
    assert m.pay_out.any() or m.bills.any()


def test_net_worth_leaves_out_bills_only_when_none_are_in_flight(monkeypatch):
    """Cores split bills for 8 months, then stop: net worth leaves the bills out only once
    none is in flight (the ring all zeros), and equals the NumPy one every month."""
    from simulation import owners_loop

    m = SCFModel(load_scenario("levers/supply_chain_bills", {"population.n_smes": 700}), seed=5)
    original = owners_loop.net_worth
    seen = []

    def worth(*args):
        with_bills = args[-1]
        assert with_bills or not m.bills.any(), m.month
        got = original(*args)
        assert np.array_equal(_bits(got), _bits(_net_worth_plain(m))), m.month
        seen.append((with_bills, bool(m.bills.any())))
        return got

    monkeypatch.setattr(owners_loop, "net_worth", worth)
    for month in range(30):
        if month == 8:
            core = m.cfg.core.model_copy(update={"supply_chain_bills": False})
            m.cfg = m.cfg.model_copy(update={"core": core})
        m.step()
    assert (True, True) in seen and (True, False) in seen and seen[-1] == (False, False)


def test_compiled_rates_of_the_monthly_rows_are_the_python_ones():
    """Every monthly row of a stressed run (some rates undefined: NaN) holds the
    rates Python's `metrics._derive` works out from its counts and volumes, bit for bit; the
    loan book's guaranteed total is NumPy's sum of that column of the full book."""
    from simulation.metrics import _derive
    from simulation.record_loop import DERIVED

    m = SCFModel(load_scenario("packages/policy_package",
                               {"population.n_smes": 700, "population.pd_mean": 0.08}), seed=4)
    guaranteed = []
    for _ in range(20):
        m.step()
        guaranteed.append(m.loans.guaranteed_outstanding())
        assert guaranteed[-1] == m.loans.principal[:, mk.GUAR, :].sum(), m.month
    assert max(guaranteed) > 0
    empty = 0
    for row in m.recorder.rows:
        want = {k: v for k, v in row.items() if k not in DERIVED}
        _derive(want, m.term)
        for k in DERIVED:
            assert type(row[k]) is float and np.array_equal(
                _bits(np.array(row[k])), _bits(np.array(want[k]))), (row["month"], k)
        empty += any(np.isnan(row[k]) for k in DERIVED)
    assert len(m.recorder.rows) == 200 and empty > 0


# ---------------------------------------------------------------- financing needs


def _needs_plain(model, outlay):
    """Needs and reserves in NumPy, as before they were compiled (model.py at 9f467f9)."""
    net, n = model.net, model.n
    h, s = model.month % model.horizon, model.loans.mature_slot(model.month)
    c = model.loans.cohorts[s]
    owed = (np.bincount(c.sme, c.due, minlength=n) + model.loans.fee[:, s] + model.pay_out[:, h]
            + np.bincount(net.edge_buyer[model.to_sme], model.recv[model.to_sme, h],
                          minlength=n))
    due_in = np.bincount(net.edge_seller, model.recv[:, h] + model.bills[:, h], minlength=n)
    reserve = np.maximum(owed - due_in, 0.0)
    need = np.maximum(outlay + reserve - model.ledger.view(0, n), 0.0) * model.sme.alive
    return need, reserve


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("packages/policy_package", {"population.pd_mean": 0.08}),
    ("levers/supply_chain_bills", {"payment.term_months": 6, "payment.late_months": 3}),
    ("baselines/shanghai", {}),
])
def test_compiled_needs_are_the_numpy_ones(monkeypatch, scenario, overrides):
    """Every month of a run (loans, fees, late payments and bills falling due; firms failing),
    the compiled needs and reserves equal the NumPy ones bit for bit."""
    from simulation import needs_loop

    m = SCFModel(load_scenario(scenario, {"population.n_smes": 700, **overrides}), seed=7)
    original = needs_loop.needs
    reserves = []

    def spy(outlay, *args):
        got = original(outlay, *args)
        want = _needs_plain(m, outlay)
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(_bits(a), _bits(b)), m.month
        reserves.append(float(got[1].sum()))
        return got

    monkeypatch.setattr(needs_loop, "needs", spy)
    for _ in range(24):
        m.step()
    assert len(reserves) == 24 and max(reserves) > 0 and not m.sme.alive.all()


# ------------------------------------------------------ NumPy's pairwise runs; the recorder's table


def test_pairwise_runs_split_as_numpy_sums():
    """Summing pairwise_runs' runs one by one and adding the partial sums as told is NumPy's
    sum, at every length; the runs cover the values in order."""
    rng = np.random.default_rng(7)
    for n in [*range(300), 1000, 1023, 8191, 8192, 8193, 65_537, 500_001]:
        a = rng.lognormal(0, 3, n) * (rng.random(n) < 0.5)
        lo, length, merges = kernels.pairwise_runs(n)
        assert lo[0] == 0 and (lo[1:] == lo[:-1] + length[:-1]).all() and length.sum() == n
        assert length.max() <= 128
        sums = []
        for start, m, k in zip(lo, length, merges, strict=True):
            sums.append(kernels.pairwise_sum(a, start, m))
            for _ in range(k):
                right = sums.pop()
                sums[-1] = sums[-1] + right
        assert len(sums) == 1 and 0.0 + sums[0] == a.sum(), n


def _random_month(rng, n):
    """A month's per-SME inputs of the recorder's table, as a model record and recorder
    would hand them: some SMEs dead, funded on some instruments, some rates undefined."""
    from types import SimpleNamespace

    from simulation.metrics import LOAN_MASK

    n_inst = len(LOAN_MASK)
    funded = rng.lognormal(1, 2, (n, n_inst)) * (rng.random((n, n_inst)) < 0.06)
    rate = rng.uniform(0.02, 0.2, (n, n_inst))
    rate[rng.random((n, n_inst)) < 0.05] = np.nan
    rate[rng.random((n, n_inst)) < 0.02] = np.inf
    need = rng.lognormal(1, 2, n) * (rng.random(n) < 0.3)
    need[rng.random(n) < 0.02] = 5e-7  # below the tolerance of "fully met"
    alive = rng.random(n) < 0.95
    balance = rng.lognormal(4, 3, n) * (rng.random(n) < 0.2)
    g_out = rng.lognormal(3, 2, n) * (rng.random(n) < 0.1)
    model = SimpleNamespace(sme=SimpleNamespace(alive=alive), loans=SimpleNamespace(
        outstanding=lambda instrument: g_out, principal_by_sme=lambda mask: balance))
    codes = np.stack((rng.integers(1, 4, n), rng.integers(4, 7, n), rng.integers(7, 10, n)))
    cell_of, cell_groups = breakdown_cells(codes, (3, 3, 3))
    rec = SimpleNamespace(model=model, codes=codes.astype(np.int64), cell_of=cell_of,
                          cell_groups=cell_groups)  # the recorder's groups and cells
    record = SimpleNamespace(
        need=need, funded=mk.Funded.from_matrix(funded), rate=rate,
        charges=np.where(np.isfinite(rate), rate, 0.0) * rng.uniform(0, 0.3, (n, n_inst)),
        sales=rng.lognormal(3, 1, n),
        delivered_share=np.where(rng.random(n) < 0.1, rng.random(n), 1.0),
        defaulted=(rng.random(n) < 0.02).astype(float))
    return rec, record


def test_month_table_is_the_column_matrix_one():
    """At every kind of length (empty, below 8, around NumPy's runs of 128 and their halving,
    past its buffer), the table summed SME by SME is the NumPy one of the full column matrix
    (`_assert_table_is`), and so are the costs by instrument and the status; cells out of SME
    order are refused."""
    from simulation import record_loop
    from simulation.metrics import _AT, _IS_LOAN, _ROWS, SMALL_LOAN_CAP

    rng = np.random.default_rng(9)
    for n in (0, 1, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1000, 8193, 40_001):
        rec, r = _random_month(rng, n)
        f, m = r.funded, rec.model
        args = [_AT, len(_ROWS), r.need, m.sme.alive, r.sales, r.delivered_share, r.defaulted,
                m.loans.outstanding(4), m.loans.principal_by_sme(None), SMALL_LOAN_CAP,
                f.sme, f.instrument, f.amount, mk.at_cells(r.rate, f),
                r.charges[f.sme, f.instrument], _IS_LOAN, rec.codes, rec.cell_of,
                rec.cell_groups, 10]
        got = record_loop.month_table(*args)
        _assert_table_is(got, _month_table_plain(rec, r), n)
        assert np.isfinite(got[0]).all()
        if len(np.unique(f.sme)) > 1:
            args[10] = f.sme[::-1].copy()
            with pytest.raises(ValueError, match="SME order"):
                record_loop.month_table(*args)


def test_add_bincount_adds_as_numpy_bincount():
    """Repeated indices, zeros, negative values and a mask: `out += np.bincount(...)`."""
    rng = np.random.default_rng(10)
    for n, cells in ((1, 5), (50, 0), (50, 400), (3000, 2000)):
        out = rng.lognormal(0, 2, n) * (rng.random(n) < 0.5)
        index, kind = rng.integers(0, n, cells), rng.integers(0, 7, cells)
        values = rng.normal(0, 5, cells) * (rng.random(cells) < 0.8)
        mask = rng.random(7) < 0.6
        on = mask[kind]
        want = out + np.bincount(index[on], values[on], minlength=n)
        scratch = np.zeros(n)
        kernels.add_bincount(out, index, kind, values, mask, scratch)
        assert np.array_equal(out, want) and not scratch.any(), (n, cells)


def test_loan_book_sums_by_sme_are_the_numpy_ones():
    """Every month of a stressed run, each SME's principal by instrument and on the loans
    equals the NumPy sums (slot by slot, as before they were compiled: loans.py at 0eb8239)."""
    m = SCFModel(load_scenario("packages/policy_package",
                               {"population.n_smes": 700, "population.pd_mean": 0.08}), seed=4)
    book = m.loans
    for _ in range(14):
        m.step()
        for k in range(mk.N_INSTRUMENTS):
            want = np.zeros(book.n)
            for c in book.cohorts:
                at = np.flatnonzero(c.instrument == k)
                want[c.sme[at]] += c.principal[at]
            assert np.array_equal(book.outstanding(k), want), (m.month, k)
        want = np.zeros(book.n)
        for s in range(book.slots):
            want += book.principal_due(s, mk.LOAN_MASK)
        assert np.array_equal(book.principal_by_sme(mk.LOAN_MASK), want), m.month
    assert book.outstanding(mk.GUAR).any() and book.principal_by_sme(mk.LOAN_MASK).any()


# ---------------------------------------------------------------- orders


def _orders_plain(model, shock, z_chain, z_sme):
    """The month's orders in NumPy, as before they were compiled (model.py at 0eb8239)."""
    net, pop = model.net, model.cfg.population
    shock = (pop.demand_persistence * shock + pop.demand_sigma
             * np.sqrt(1 - pop.demand_persistence ** 2) * z_chain)
    eps = pop.idio_sigma * z_sme
    level = model.cfg.macro.demand_level * c_exp(
        shock[net.sme_chain] + eps - 0.5 * (pop.demand_sigma ** 2 + pop.idio_sigma ** 2))
    sales = net.sme_sales * level * model.sme.alive
    e = model.to_sme
    inputs = np.bincount(net.edge_buyer[e], sales[net.edge_seller[e]], minlength=model.n)
    outlay = np.maximum(pop.cost_share * sales - inputs, 0.0)
    return shock, sales, inputs, outlay


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("packages/policy_package", {"population.pd_mean": 0.08, "population.demand_sigma": 0.4}),
    ("baselines/shanghai", {"macro.demand_level": 0.7}),
    ("baselines/order_led", {}),
])
def test_compiled_orders_are_the_numpy_ones(monkeypatch, scenario, overrides):
    """Every month of a run (chain shocks, firms failing), the compiled orders (shocks, sales,
    inputs, outlays) equal the NumPy ones bit for bit."""
    from simulation import orders_loop

    m = SCFModel(load_scenario(scenario, {"population.n_smes": 700, **overrides}), seed=9)
    original = orders_loop.orders
    inputs = []

    def spy(shock, p, innovation, z_chain, s, z_sme, *args):
        got = original(shock, p, innovation, z_chain, s, z_sme, *args)
        want = _orders_plain(m, shock, z_chain, z_sme)
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(_bits(a), _bits(b)), m.month
        inputs.append(float(got[2].sum()))
        return got

    monkeypatch.setattr(orders_loop, "orders", spy)
    for _ in range(18):
        m.step()
    assert len(inputs) == 18 and not m.sme.alive.all()


# ---------------------------------------------------------------- the loan book's new cohort


def _write_plain(self, month, funded, rate, fee_rate):
    """`LoanBook.write` in NumPy, as before it was compiled (loans.py at 0eb8239)."""
    from simulation.loans import Cohort
    from simulation.market import GUAR, at_cells

    s = self.write_slot(month)
    self.clear(s)
    rows, inst, f = funded.sme, funded.instrument, funded.amount
    years = self.term / 12.0
    r = at_cells(rate, funded)
    interest = f * np.where(np.isfinite(r), r, 0.0) * years
    g = inst == GUAR
    interest[g] -= f[g] * fee_rate[rows[g]] * years
    self.cohorts[s] = Cohort(funded.cells, rows, inst, f + np.maximum(interest, 0.0), f,
                             self.cell_lender[funded.cells])
    self._fee[s] = funded.column(GUAR) * fee_rate * years
    self._guar[rows[g], s] = f[g]
    self._guar_total = None


@pytest.mark.parametrize(("scenario", "overrides"), [
    ("packages/policy_package", {"population.pd_mean": 0.08, "guarantor.capital": 5.0}),
    ("levers/fee_waiver", {}),
])
def test_compiled_loan_book_writes_as_the_numpy_one(monkeypatch, scenario, overrides):
    """Whole runs (guaranteed loans with and without waived fees) end bit for bit the same
    with the NumPy cohort writer as with the compiled one."""
    from simulation.loans import LoanBook

    summary = _runs_match(monkeypatch, LoanBook, "write", _write_plain, scenario, overrides)
    assert summary["volume_by_instrument"]["guaranteed_loan"] > 0


# ---------------------------------------------------------------- offers' inputs


def test_edge_totals_add_as_bincount():
    """Confirmed and billed receivables, their cores' weighted PD and invoices per seller, as
    the NumPy version worked them out (offers.offer_columns at 0eb8239)."""
    from simulation import price_loop

    rng = np.random.default_rng(4)
    n, e = 300, 2000
    seller = rng.integers(0, n, e)
    confirmed = rng.exponential(5.0, e) * (rng.random(e) < 0.3)
    bills = rng.exponential(2.0, e) * (rng.random(e) < 0.2)
    edge_pd, invoice = rng.random(e) * 0.05, rng.exponential(9.0, e)
    backed = confirmed + bills
    conf = np.bincount(seller, backed, minlength=n)
    core_pd = np.divide(np.bincount(seller, backed * edge_pd, minlength=n), conf,
                        out=np.zeros(n), where=conf > 0)
    got = price_loop.edge_totals(n, seller, confirmed, bills, edge_pd, invoice)
    want = (conf, core_pd, np.bincount(seller, invoice, minlength=n))
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(_bits(a), _bits(b))
    assert (conf == 0).any() and (conf > 0).any()


def test_compiled_noisy_pd_is_markets():
    """The pricing loop's noisy PD estimate equals `market.noisy_pd` bit for bit (both take
    the C library's exp)."""
    from simulation import price_loop

    rng = np.random.default_rng(5)
    n = 200_000
    pd, z = rng.beta(0.5, 10.0, n), rng.standard_normal(n) * 3
    scale = rng.random(n) * 1.5
    drift = 0.5 * scale * scale
    want = mk.noisy_pd(pd, scale, drift, z)
    got = np.array([price_loop._noisy(pd[i], scale[i], drift[i], z[i]) for i in range(2000)])
    assert np.array_equal(_bits(got), _bits(want[:2000]))
    assert (want == 1.0).any() and (want < 1.0).any()


def test_exp_and_pow_are_the_c_librarys_on_every_machine():
    """`kernels.c_exp` and `c_pow` give `math.exp` and `math.pow` (the C library's) bit for
    bit, whatever NumPy's own would give on this CPU (on one with AVX-512, about one value in
    twenty differs in its last bit), so networks, firms and costs are the same on every
    machine."""
    import math

    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_normal(50_000) * 4, [0.0, -0.0, 709.0, -745.0, 1e-300]])
    p = np.concatenate([rng.random(50_000), [0.0, 1.0]])
    want_exp = np.array([math.exp(v) for v in x])
    assert np.array_equal(_bits(kernels.c_exp(x)), _bits(want_exp))
    odd = x[:50_000].reshape(5, -1)[:, ::2]  # any shape, any strides
    assert np.array_equal(_bits(kernels.c_exp(odd)),
                          _bits(want_exp[:50_000].reshape(5, -1)[:, ::2]))
    for y in (1 / 12, 3, 0.5):
        want = np.array([math.pow(1 - v, y) for v in p])
        assert np.array_equal(_bits(kernels.c_pow(1 - p, y)), _bits(want))


def test_a_changed_kernel_drops_the_compiled_cache(tmp_path):
    """Editing any module with compiled code empties numba's cache once (numba itself would
    keep code compiled into a caller from a changed module); unchanged sources keep it."""
    package, cache = tmp_path / "pkg", tmp_path / "pkg" / "__pycache__"
    package.mkdir()
    (package / "loops.py").write_text("@compiled\ndef f():\n    return 1\n")
    (package / "plain.py").write_text("x = 1\n")
    cache.mkdir()
    cached = [cache / "loops.f-1.py313.nbi", cache / "loops.f-1.py313.1.nbc"]
    for path in cached:
        path.write_text("compiled")
    assert kernels.drop_stale_cache(package, cache) and not any(p.exists() for p in cached)
    for path in cached:
        path.write_text("compiled")
    assert not kernels.drop_stale_cache(package, cache) and all(p.exists() for p in cached)
    (package / "plain.py").write_text("x = 2\n")  # no compiled code: the cache stays
    assert not kernels.drop_stale_cache(package, cache) and all(p.exists() for p in cached)
    (package / "loops.py").write_text("@compiled\ndef f():\n    return 2\n")
    assert kernels.drop_stale_cache(package, cache) and not any(p.exists() for p in cached)


# ---------------------------------------------------------------- failures, lending, after clearing


def _failures_plain(self):
    """`SCFModel._failures` in NumPy, as before it was compiled (model.py at 0eb8239)."""
    u = self.drawn.failure
    fail = self.sme.alive & (u < self.sme.pd_month)
    cash = self.ledger.view(0, self.n)
    self.ledger.transfer(np.flatnonzero(fail), self.ledger.outside,
                         np.maximum(cash[fail], 0.0), "failure")
    self.sme.alive &= ~fail
    self.failed_now = fail


def _pay_out_loans_plain(model, funded, rate):
    """`production.pay_out_loans` in NumPy, as before it was compiled (at 0eb8239)."""
    led, cfg = model.ledger, model.cfg
    lender = model.loans.cell_lender[funded.cells]
    led.transfer(led.bank0 + lender, funded.sme, funded.amount, "lending")
    per_lender = np.bincount(lender, funded.amount, minlength=len(model.banks) + 1)
    for bank in model.banks:
        bank.principal += per_lender[bank.index]
    model.factor.principal += per_lender[-1]
    years = model.term / 12.0
    subsidy = funded.column(mk.GUAR) * cfg.guarantor.fee_rate * years * model.sme.waived
    led.transfer(led.government, led.guarantor, subsidy.sum(), "fee_subsidy")
    model.loans.write(model.month, funded, rate, model.fee_rate_now)
    return float(subsidy.sum())


@pytest.mark.parametrize("scenario", ["packages/policy_package", "levers/fee_waiver"])
def test_compiled_failures_and_lending_are_the_numpy_ones(monkeypatch, scenario):
    """Whole runs (firms failing with cash, guaranteed loans with waived fees) end bit for bit
    the same with the NumPy failures and lending as with the compiled ones."""
    from simulation import production

    summary = _runs_match(monkeypatch, SCFModel, "_failures", _failures_plain, scenario,
                          {"population.pd_mean": 0.08})
    assert summary["sme_defaults"] > 0
    monkeypatch.undo()
    summary = _runs_match(monkeypatch, production, "pay_out_loans", _pay_out_loans_plain,
                          scenario, {"population.pd_mean": 0.08})
    assert summary["volume_by_instrument"]["guaranteed_loan"] > 0
    if scenario == "levers/fee_waiver":
        assert summary["public_cost_fee_subsidy"] > 0


def test_compiled_after_clearing_is_the_numpy_one(monkeypatch):
    """Every month, what each SME got, who was left short and the guarantee contracts opened
    equal the NumPy version (model.py at 0eb8239)."""
    from simulation import finance_loop

    m = SCFModel(load_scenario("packages/policy_package", {"population.n_smes": 700}), seed=2)
    original = finance_loop.after_clearing
    opened = []

    def spy(need, sme, inst, amount, month, last_short, guar_opened, guar):
        short_want, opened_want = last_short.copy(), guar_opened.copy()
        got_want = np.bincount(sme, amount, minlength=len(need))
        short_want[got_want < need - 1e-6] = month
        new = (inst == guar) & (month - opened_want[sme] >= 12)
        opened_want[sme[new]] = month
        got = original(need, sme, inst, amount, month, last_short, guar_opened, guar)
        assert np.array_equal(_bits(got), _bits(got_want)), month
        assert np.array_equal(last_short, short_want) and np.array_equal(guar_opened, opened_want)
        opened.append(int(new.sum()))
        return got

    monkeypatch.setattr(finance_loop, "after_clearing", spy)
    for _ in range(15):
        m.step()
    assert sum(opened) > 0 and (m.last_short == 14).any()
