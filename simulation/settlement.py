"""Settlement: receivables come in, loans, fees and payables fall due, shortfalls default.

An SME that cannot pay all it owes defaults: lenders holding a confirmed receivable are paid
first, everyone else pro rata; the guarantor pays its coverage of a guaranteed loan's loss (the
government reimbursing its share), and banks book the loss against capital. A defaulted SME
trades no more, but receivables still owed to it are swept to its creditors as they arrive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation.networks import TIER2, TO_CORE, TO_MARKET

if TYPE_CHECKING:
    from simulation.model import SCFModel


def settle(model: SCFModel) -> dict[str, float | np.ndarray]:
    """Settle this month's slot of every ring; returns what the metrics need."""
    led, net = model.ledger, model.net
    t = model.month
    h, s = t % model.horizon, model.loans.mature_slot(t)
    k = t % 12
    for bank in model.banks:
        bank.matured[k] = bank.bad[k] = 0.0
    model.guarantor.payouts[k] = 0.0
    model.guarantor.exposure[k] = model.loans.guaranteed_outstanding()

    e_core = np.flatnonzero(net.edge_kind == TO_CORE)
    led.transfer(led.core0 + net.edge_buyer[e_core], net.edge_seller[e_core],
                 model.recv[e_core, h], "core_payment")
    e_mkt = np.flatnonzero(net.edge_kind == TO_MARKET)
    led.transfer(led.outside, net.edge_seller[e_mkt], model.recv[e_mkt, h], "market_payment")
    e2 = model.to_sme
    led.transfer(led.core0 + model.bill_core[e2], net.edge_seller[e2], model.bills[e2, h],
                 "bill_payment")
    model.core_conf[:, h] = 0.0

    totals = {"payouts": 0.0, "reimbursement": 0.0}
    defaulted = np.zeros(model.n, bool)
    tier2 = net.sme_role == TIER2
    for mask in (~tier2, tier2):  # tier 1 pays tier 2 before tier 2 settles
        _settle_group(model, np.flatnonzero(mask), h, s, defaulted, totals)

    model.recv[:, h] = 0.0
    model.bills[:, h] = 0.0
    model.pay_out[:, h] = 0.0
    model.loans.due[:, :, s] = 0.0
    model.loans.principal[:, :, s] = 0.0
    model.loans.fee[:, s] = 0.0
    _carry_costs(model)
    return {"defaulted": defaulted | model.failed_now, **totals}


def _settle_group(model: SCFModel, idx: np.ndarray, h: int, s: int, defaulted: np.ndarray,
                  totals: dict[str, float]) -> None:
    led, net, cfg, loans = model.ledger, model.net, model.cfg, model.loans
    n = model.n
    due = loans.due[idx, :, s]
    principal = loans.principal[idx, :, s]
    fee = loans.fee[idx, s]
    e2 = model.to_sme
    payable_edges = e2[np.isin(net.edge_buyer[e2], idx)]
    payables = np.bincount(net.edge_buyer[payable_edges], model.recv[payable_edges, h],
                           minlength=n)[idx]
    outside = model.pay_out[idx, h]
    owed = due.sum(axis=1) + fee + payables + outside
    cash = np.maximum(led.balance[idx], 0.0)
    paid_conf = np.minimum(cash, due[:, mk.CONF])
    other = owed - due[:, mk.CONF]
    phi = np.divide(cash - paid_conf, other, out=np.ones(len(idx)), where=other > 0)
    phi = np.clip(phi, 0.0, 1.0)
    paid = due * phi[:, None]
    paid[:, mk.CONF] = paid_conf

    lender = loans.lender[idx]
    rows = np.repeat(idx, mk.N_INSTRUMENTS)
    led.transfer(rows, led.bank0 + lender.ravel(), paid.ravel(), "loan_repayment")
    led.transfer(idx, led.guarantor, fee * phi, "guarantee_fee")
    pos = np.zeros(n)
    pos[idx] = phi
    led.transfer(net.edge_buyer[payable_edges], net.edge_seller[payable_edges],
                 model.recv[payable_edges, h] * pos[net.edge_buyer[payable_edges]],
                 "trade_payment")
    led.transfer(idx, led.outside, outside * phi, "input_payment")

    short = due - paid
    bad = short > 1e-9
    # the guarantor covers its share of a guaranteed loan's loss, within its cash
    g_loss = short[:, mk.GUAR]
    payout = cfg.guarantor.coverage * g_loss
    scale = min(1.0, led.balance[led.guarantor] / payout.sum()) if payout.sum() > 0 else 1.0
    payout *= scale
    led.transfer(led.guarantor, led.bank0 + lender[:, mk.GUAR], payout, "guarantee_payout")
    reimb = cfg.guarantor.reimbursement_share * payout.sum()
    led.transfer(led.government, led.guarantor, reimb, "reimbursement")
    model.guarantor.payouts[model.month % 12] += payout.sum()
    totals["payouts"] += float(payout.sum())
    totals["reimbursement"] += float(reimb)

    income = paid - principal
    income[:, mk.GUAR] += payout
    n_banks = len(model.banks)
    flat_l = lender.ravel()
    inc = np.bincount(flat_l, income.ravel(), minlength=n_banks + 1)
    prin = np.bincount(flat_l, principal.ravel(), minlength=n_banks + 1)
    badp = np.bincount(flat_l, (principal * bad).ravel(), minlength=n_banks + 1)
    k = model.month % 12
    for bank in model.banks:
        bank.equity += inc[bank.index]
        bank.principal -= prin[bank.index]
        bank.matured[k] += prin[bank.index]
        bank.bad[k] += badp[bank.index]
    model.factor.equity += inc[-1]
    model.factor.principal -= prin[-1]

    newly = model.sme.alive[idx] & (cash + 1e-9 < owed)
    defaulted[idx[newly]] = True
    model.sme.alive[idx[newly]] = False


def _carry_costs(model: SCFModel) -> None:
    """Banks pay depositors for their funding; the factor pays interest on its bank line."""
    led, cfg = model.ledger, model.cfg
    for bank in model.banks:
        cost = min(cfg.bank.funding_rate / 12 * max(bank.principal, 0.0),
                   max(led.balance[led.bank0 + bank.index], 0.0))
        led.transfer(led.bank0 + bank.index, led.outside, cost, "funding_cost")
        bank.equity -= cost
    f = model.factor
    if f.line > 0:
        interest = min((cfg.bank.funding_rate + cfg.bank.margin) / 12 * f.line,
                       max(led.balance[led.factor], 0.0))
        each = interest / len(model.banks)
        for bank in model.banks:
            led.transfer(led.factor, led.bank0 + bank.index, each, "line_interest")
            bank.equity += each
        f.equity -= interest
