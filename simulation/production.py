"""Production and delivery: lenders pay out, SMEs pay for production, sales become receivables.

A core pays confirmed receivables (and the bills split from them) on the due date; unconfirmed
ones are paid late with the chain's late-payment probability unless enforcement makes them on time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation.networks import DISTRIBUTOR, TO_CORE, TO_MARKET

if TYPE_CHECKING:
    from simulation.model import SCFModel


def pay_out_loans(model: SCFModel, funded: mk.Funded, rate: np.ndarray) -> float:
    """Lenders transfer this month's loans; waived guarantee fees are paid by government."""
    led, cfg = model.ledger, model.cfg
    # only funded cells move money; in SME-then-instrument order, as the full matrix would
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


def produce(model: SCFModel, sales: np.ndarray, outlay: np.ndarray, reserve: np.ndarray,
            funded: mk.Funded, rate: np.ndarray, confirmed: np.ndarray, bills: np.ndarray,
            inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """Spend on production, deliver, book receivables; returns (delivered share, subsidy)."""
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
    draw = model.streams["late"].random(len(amt))
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
