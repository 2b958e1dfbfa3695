"""Settlement: receivables come in, loans, fees and payables fall due, shortfalls default.

An SME that cannot pay all it owes defaults: lenders holding a confirmed receivable are paid
first, everyone else pro rata; the guarantor pays its coverage of a guaranteed loan's loss (the
government reimbursing its share), and banks book the loss against capital. A defaulted SME
trades no more, but receivables still owed to it are swept to its creditors as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation.loans import Cohort
from simulation.networks import TIER2, TO_CORE, TO_MARKET

if TYPE_CHECKING:
    from simulation.model import SCFModel


@dataclass
class SettlementGroup:
    """SMEs that settle together: their indices and the tier-2 payables they owe."""

    idx: np.ndarray  # SMEs, ascending
    payable_edges: np.ndarray  # trade edges on which these SMEs are the buyer
    code: int


@dataclass
class SettlementPlan:
    """What settlement needs of the network, worked out once per run."""

    e_core: np.ndarray
    e_mkt: np.ndarray
    groups: tuple[SettlementGroup, ...]  # settled in this order
    group_of: np.ndarray  # (n,) code of each SME's group
    pos: np.ndarray  # (n,) each SME's position within its group


def settlement_plan(model: SCFModel) -> SettlementPlan:
    """Groups in settling order: tier 1 (and distributors) pays tier 2 before tier 2 settles."""
    net, n = model.net, model.n
    tier2 = net.sme_role == TIER2
    e2 = model.to_sme
    group_of = tier2.astype(np.int8)
    pos = np.zeros(n, np.intp)
    groups = []
    for code, mask in enumerate((~tier2, tier2)):
        idx = np.flatnonzero(mask)
        pos[idx] = np.arange(len(idx))
        groups.append(SettlementGroup(idx, e2[mask[net.edge_buyer[e2]]], code))
    return SettlementPlan(np.flatnonzero(net.edge_kind == TO_CORE),
                          np.flatnonzero(net.edge_kind == TO_MARKET), tuple(groups), group_of, pos)


def settle(model: SCFModel) -> dict[str, float | np.ndarray]:
    """Settle this month's slot of every ring; returns what the metrics need."""
    led, net, plan = model.ledger, model.net, model.settlement_plan
    t = model.month
    h, s = t % model.horizon, model.loans.mature_slot(t)
    k = t % 12
    for bank in model.banks:
        bank.matured[k] = bank.bad[k] = 0.0
    model.guarantor.payouts[k] = 0.0
    model.guarantor.exposure[k] = model.loans.guaranteed_outstanding()

    e_core = plan.e_core
    led.transfer(led.core0 + net.edge_buyer[e_core], net.edge_seller[e_core],
                 model.recv[e_core, h], "core_payment")
    e_mkt = plan.e_mkt
    led.transfer(led.outside, net.edge_seller[e_mkt], model.recv[e_mkt, h], "market_payment")
    e2 = model.to_sme
    led.transfer(led.core0 + model.bill_core[e2], net.edge_seller[e2], model.bills[e2, h],
                 "bill_payment")
    model.core_conf[:, h] = 0.0

    totals = {"payouts": 0.0, "reimbursement": 0.0}
    defaulted = np.zeros(model.n, bool)
    cohort = model.loans.cohorts[s]
    cohort_group = plan.group_of[cohort.sme]
    for group in plan.groups:
        sel = np.flatnonzero(cohort_group == group.code)
        loans = Cohort(*(getattr(cohort, f.name)[sel] for f in fields(Cohort)))
        _settle_group(model, group, loans, h, s, defaulted, totals)

    model.recv[:, h] = 0.0
    model.bills[:, h] = 0.0
    model.pay_out[:, h] = 0.0
    model.loans.clear(s)
    _carry_costs(model)
    return {"defaulted": defaulted | model.failed_now, **totals}


def _settle_group(model: SCFModel, group: SettlementGroup, loans: Cohort, h: int, s: int,
                  defaulted: np.ndarray, totals: dict[str, float]) -> None:
    """Settle one group: its loans (cell by cell, in SME-then-instrument order), fees, payables.

    Sums over a group's loans add the funded cells in the order in which sums over the group's
    full (SME x instrument) matrix would, so the cells never funded (zeros) change nothing.
    """
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
    scale = min(1.0, led.balance[led.guarantor] / payout.sum()) if payout.sum() > 0 else 1.0
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
