"""What lenders offer each SME this month: eligibility, amount and all-in price per instrument.

Banks screen with a noisy estimate of each SME's default risk (noise falls with information),
price it, and ration where the price would pass their ceiling or the risk their appetite. The
guarantor takes risk off the bank for a fee; the factor buys receivables.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation.networks import DISTRIBUTOR, TIER1, TIER2

if TYPE_CHECKING:
    from simulation.model import SCFModel


def _by_seller(model: SCFModel, per_edge: np.ndarray) -> np.ndarray:
    return np.bincount(model.net.edge_seller, per_edge, minlength=model.n)


# SMEs priced at a time: a block's arrays stay in the CPU cache while its offers are worked out.
# Pricing is SME by SME, so results do not depend on it (tests/simulation/test_scale.py).
_BLOCK = 32_768


@dataclass
class OfferPlan:
    """The parts of pricing fixed for a run (per SME, or per SME and instrument)."""

    noise_bank: np.ndarray  # screening noise scale of the banks' PD estimate
    drift_bank: np.ndarray
    noise_factor: np.ndarray  # ... and of the factor's
    drift_factor: np.ndarray
    upstream: np.ndarray  # tier 1 or 2
    distributor: np.ndarray
    conf_rate: np.ndarray  # confirmed-receivable rate before the core's risk
    credit_cap: np.ndarray  # credit limit before loans outstanding
    opacity: np.ndarray  # opacity premium
    fee: np.ndarray  # guarantee fee
    own_core_pd: np.ndarray  # PD of the SME's main core
    bank_rated: np.ndarray  # (I, n): offers priced by a bank (which rations above max_rate)
    edge_pd: np.ndarray  # per trade edge: PD of the core behind its confirmation or bill


def offer_plan(model: SCFModel) -> OfferPlan:
    """Work out the fixed parts of pricing once per run."""
    cfg, sme, net = model.cfg, model.sme, model.net
    b, f = cfg.bank, cfg.factoring
    noise_bank = b.screening_sigma * (1.0 - sme.quality)
    noise_factor = b.screening_sigma * (1.0 - sme.quality_factor)
    lender = model.loans.lender.T
    via_factor = lender[mk.CONF] == b.n_banks
    banky = np.ones(mk.N_INSTRUMENTS, bool)
    banky[mk.FACTOR] = False
    return OfferPlan(
        noise_bank=noise_bank, drift_bank=0.5 * noise_bank * noise_bank,
        noise_factor=noise_factor, drift_factor=0.5 * noise_factor * noise_factor,
        upstream=np.isin(net.sme_role, (TIER1, TIER2)),
        distributor=net.sme_role == DISTRIBUTOR,
        conf_rate=np.where(via_factor, b.funding_rate + f.margin,
                           b.funding_rate + 0.5 * b.margin),
        credit_cap=b.credit_limit_months * net.sme_sales * sme.quality,
        opacity=b.opacity_premium * (1 - sme.quality),
        fee=np.where(sme.waived, 0.0, cfg.guarantor.fee_rate),
        own_core_pd=model.core_pd[net.sme_core],
        bank_rated=banky[:, None] & (lender != b.n_banks),
        edge_pd=np.where(model.edge_core >= 0, model.core_pd[np.maximum(model.edge_core, 0)],
                         model.core_pd[np.maximum(model.bill_core, 0)]))


def make_offers(model: SCFModel, need: np.ndarray, sales: np.ndarray, inputs: np.ndarray,
                invoice: np.ndarray, confirmed: np.ndarray, bills: np.ndarray) -> mk.Offers:
    """The (SME x instrument) offer matrices for this month."""
    sme, n, plan = model.sme, model.n, model.offer_plan
    z = model.streams["screening"].standard_normal(n)  # the month's draws, all at once
    # what needs more than the SME's own row: sums over its trade edges and its loans
    backed = confirmed + bills
    conf_total = _by_seller(model, backed)
    core_pd = np.divide(_by_seller(model, backed * plan.edge_pd), conf_total,
                        out=np.zeros(n), where=conf_total > 0)
    columns = {
        **{k.name: getattr(plan, k.name) for k in fields(plan)
           if k.name not in ("bank_rated", "edge_pd")},
        "pd": sme.pd, "quality": sme.quality, "z": z, "need": need, "sales": sales,
        "alive": sme.alive, "bank_access": sme.bank_access, "order_ok": sme.order_ok,
        "shared": sme.shared, "conf_total": conf_total, "core_pd": core_pd,
        "inv_total": _by_seller(model, invoice),
        "credit_out": model.loans.outstanding(mk.CREDIT),
        "guar_out": model.loans.outstanding(mk.GUAR),
        "contract": model.month - model.guar_opened < 12,
        "hurdle": model.hurdle,
    }
    lender = model.loans.lender.T
    # (instrument, SME): one instrument's offers are contiguous; returned as (SME, instrument)
    amount = np.empty((mk.N_INSTRUMENTS, n))
    rate = np.empty((mk.N_INSTRUMENTS, n))
    pd_bank, app_rate = np.empty(n), np.empty(n)
    for lo in range(0, n, _BLOCK):
        at = slice(lo, min(lo + _BLOCK, n))
        block = SimpleNamespace(**{k: v[at] for k, v in columns.items()})
        pd_bank[at], app_rate[at] = _price(model, block, lender[:, at], plan.bank_rated[:, at],
                                           amount[:, at], rate[:, at])
    model.fee_rate_now = plan.fee
    return mk.Offers(amount=amount.T, rate=rate.T, lender=model.loans.lender, priority=pd_bank,
                     charges=mk.Charges(app_rate, plan.fee))


def _price(model: SCFModel, s: SimpleNamespace, lender: np.ndarray, bank_rated: np.ndarray,
           amount: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill a block of SMEs' offers; returns their banks' PD estimates and application costs
    (annualised)."""
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
    in_time = np.where(s.contract, 1.0, np.exp(
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
