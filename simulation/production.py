"""Production and delivery: lenders pay out, SMEs pay for production, sales become receivables.

A core pays confirmed receivables (and the bills split from them) on the due date; unconfirmed
ones are paid late with the chain's late-payment probability unless enforcement makes them on time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation import produce_loop as pl
from simulation.networks import DISTRIBUTOR

if TYPE_CHECKING:
    from simulation.model import SCFModel


def pay_out_loans(model: SCFModel, funded: mk.Funded, rate: np.ndarray) -> float:
    """Lenders transfer this month's loans; waived guarantee fees are paid by government."""
    led, cfg = model.ledger, model.cfg
    # only funded cells move money; in SME-then-instrument order, as the full matrix would
    flows, made, failed, per_lender, subsidy = pl.lend(
        led.balance, led._scratch, model.loans.cell_lender[funded.cells], funded.sme,
        funded.amount, led.bank0, len(model.banks) + 1, funded.instrument, mk.GUAR,
        cfg.guarantor.fee_rate, model.term / 12.0, model.sme.waived, model.n)
    led.book(pl.LENDING_KINDS, flows, made, failed)
    for bank in model.banks:
        bank.principal += per_lender[bank.index]
    model.factor.principal += per_lender[-1]
    led.transfer(led.government, led.guarantor, subsidy, "fee_subsidy")
    model.loans.write(model.month, funded, rate, model.fee_rate_now)
    return subsidy


def produce(model: SCFModel, sales: np.ndarray, outlay: np.ndarray, reserve: np.ndarray,
            funded: mk.Funded, rate: np.ndarray, confirmed: np.ndarray, bills: np.ndarray,
            inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """Spend on production, deliver, book receivables; returns (delivered share, subsidy).

    SMEs spend on production what cash beyond the settlement reserve allows (distributors buy
    from their core); each trade edge delivers its share of the SME's sales; receivables fall
    due after the term (bills split from a tier-1 confirmation are paid by the core, the
    unconfirmed part of a core edge late with the chain's late-payment probability unless
    enforcement makes it on time); tier-1 inputs tier 2 did not deliver are bought outside; the
    core sells on at its markup. The loop is `produce_loop.deliver`.
    """
    led, net, cfg, n = model.ledger, model.net, model.cfg, model.n
    subsidy = pay_out_loans(model, funded, rate)
    t, term, horizon = model.month, model.term, model.horizon
    due = (t + term) % horizon
    late_slot = (t + term + cfg.payment.late_months) % horizon
    draw = model.drawn.late  # one per trade edge
    pay = cfg.payment
    share, flows, made, failed, late, late_enforced = pl.deliver(
        led.balance, led._scratch, np.array([led.core0, led.outside], np.int64), n, sales,
        outlay, reserve, model.sme.alive, net.sme_role == DISTRIBUTOR, net.sme_core,
        net.edge_seller, net.edge_buyer, net.edge_kind, net.edge_weight, model.edge_core,
        model.to_sme, model.primary_edge, confirmed, bills, cfg.core.supply_chain_bills, draw,
        pay.late_share, pay.late_share * (1 - pay.enforcement), inputs, cfg.core.markup,
        model.recv[:, due], model.recv[:, late_slot], model.bills[:, due],
        model.pay_out[:, due], model.core_conf, due)
    led.book(pl.KINDS, flows, made, failed)
    model.arrears = (late, late_enforced)
    return share, subsidy
