"""Settlement: receivables come in, loans, fees and payables fall due, shortfalls default.

An SME that cannot pay all it owes defaults: lenders holding a confirmed receivable are paid
first, everyone else pro rata; the guarantor pays its coverage of a guaranteed loan's loss (the
government reimbursing its share), and banks book the loss against capital. A defaulted SME
trades no more, but receivables still owed to it are swept to its creditors as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation import settle_loop as sl
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
    # each payment's payer and payee accounts: cores to sellers, the market to sellers, the
    # cores behind bills to tier-2 sellers
    core_payer: np.ndarray
    core_payee: np.ndarray
    mkt_payee: np.ndarray
    bill_payer: np.ndarray
    bill_payee: np.ndarray
    accounts: np.ndarray  # banks' first, guarantor, government, outside (for the loop)
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
    led = model.ledger
    e_core, e_mkt = np.flatnonzero(net.edge_kind == TO_CORE), np.flatnonzero(
        net.edge_kind == TO_MARKET)
    return SettlementPlan(
        e_core, e_mkt, led.core0 + net.edge_buyer[e_core], net.edge_seller[e_core],
        net.edge_seller[e_mkt], led.core0 + model.bill_core[e2], net.edge_seller[e2],
        np.array([led.bank0, led.guarantor, led.government, led.outside], np.int64),
        tuple(groups), group_of, pos)


def settle(model: SCFModel) -> dict[str, float | np.ndarray]:
    """Settle this month's slot of every ring; returns what the metrics need."""
    led, plan = model.ledger, model.settlement_plan
    t = model.month
    h, s = t % model.horizon, model.loans.mature_slot(t)
    k = t % 12
    for bank in model.banks:
        bank.matured[k] = bank.bad[k] = 0.0
    model.guarantor.payouts[k] = 0.0
    model.guarantor.exposure[k] = model.loans.guaranteed_outstanding()

    led.book(sl.PAYMENT_KINDS, *sl.payments_in(
        led.balance, led._scratch, model.recv[:, h], model.bills[:, h], plan.e_core,
        plan.core_payer, plan.core_payee, plan.e_mkt, led.outside, plan.mkt_payee,
        model.to_sme, plan.bill_payer, plan.bill_payee))
    model.core_conf[:, h] = 0.0

    totals = {"payouts": 0.0, "reimbursement": 0.0}
    defaulted = np.zeros(model.n, bool)
    cohort = model.loans.cohorts[s]
    for group in plan.groups:
        _settle_group(model, group, cohort, h, s, defaulted, totals)

    model.recv[:, h] = 0.0
    if model.bills_in_flight():  # (else the slot is zeros already; writing them again cost
        model.bills[:, h] = 0.0  # 6.5 ms a month at 500,000 SMEs)
    model.pay_out[:, h] = 0.0
    model.loans.clear(s)
    _carry_costs(model)
    return {"defaulted": defaulted | model.failed_now, **totals}


def _settle_group(model: SCFModel, group: SettlementGroup, cohort: Cohort, h: int, s: int,
                  defaulted: np.ndarray, totals: dict[str, float]) -> None:
    """Settle one group: its loans (the cohort's cells whose SME is in the group, in
    SME-then-instrument order), fees and payables, in the compiled loop
    `settle_loop.settle_group`.

    An SME pays confirmed receivables' lenders first and everyone else in proportion `phi`
    of what it owes beyond them; the guarantor pays its coverage of the guaranteed loans'
    shortfall (within its cash) and the government reimburses its share; lenders book income
    and losses; an SME that cannot pay all it owes defaults. Sums over a group's loans add the
    funded cells in the order in which sums over the group's full (SME x instrument) matrix
    would, so the cells never funded (zeros) change nothing.
    """
    led, net, cfg, plan = model.ledger, model.net, model.cfg, model.settlement_plan
    n_lenders = len(model.banks) + 1
    accounts = plan.accounts
    flows, made, failed, paid_out, reimb, inc, prin, badp = sl.settle_group(
        led.balance, led._scratch, group.idx, plan.pos, plan.group_of, group.code,
        cohort.sme, cohort.instrument, cohort.due, cohort.principal, cohort.lender,
        model.loans.fee[:, s], group.payable_edges, net.edge_buyer, net.edge_seller,
        model.recv[:, h], model.pay_out[:, h], model.loans.lender[:, mk.GUAR],
        model.sme.alive, defaulted, accounts, cfg.guarantor.coverage,
        cfg.guarantor.reimbursement_share, n_lenders, mk.CONF, mk.GUAR)
    led.book(sl.KINDS, flows, made, failed)
    model.guarantor.payouts[model.month % 12] += paid_out
    totals["payouts"] += float(paid_out)
    totals["reimbursement"] += float(reimb)
    book_lenders(model, inc, prin, badp)


def book_lenders(model: SCFModel, income: np.ndarray, principal: np.ndarray,
                 bad: np.ndarray) -> None:
    """Lenders book a group's settled loans (per lender: income, principal repaid or lost,
    principal that went bad); the last lender is the factoring sector."""
    k = model.month % 12
    for bank in model.banks:
        bank.equity += income[bank.index]
        bank.principal -= principal[bank.index]
        bank.matured[k] += principal[bank.index]
        bank.bad[k] += bad[bank.index]
    model.factor.equity += income[-1]
    model.factor.principal -= principal[-1]


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
