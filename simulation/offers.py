"""What lenders offer each SME this month: eligibility, amount and all-in price per instrument.

Banks screen with a noisy estimate of each SME's default risk (noise falls with information),
price it, and ration where the price would pass their ceiling or the risk their appetite. The
guarantor takes risk off the bank for a fee; the factor buys receivables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from simulation import market as mk
from simulation import price_loop as pl
from simulation.networks import DISTRIBUTOR, TIER1, TIER2

if TYPE_CHECKING:
    from simulation.model import SCFModel


# The guarantor's blocked demand is added up this many SMEs at a time (as when pricing went block
# by block); it only says what binds the guarantor, and results do not depend on it
# (tests/simulation/test_scale.py).
_BLOCK = 32_768


@dataclass
class OfferBuffers:
    """The (SME, instrument) offer matrices, kept from month to month (most SMEs' rows hold no
    offer month after month: only the rows written are set back), and which rows were written.
    An SME's offers lie together: pricing writes, and clearing reads, only the rows of the SMEs
    in need (about a quarter), not a stretch of every instrument's row."""

    amount: np.ndarray
    rate: np.ndarray
    written: np.ndarray

    @classmethod
    def empty(cls, n: int) -> OfferBuffers:
        """No offers to anyone."""
        return cls(np.zeros((n, mk.N_INSTRUMENTS)), np.full((n, mk.N_INSTRUMENTS), np.inf),
                   np.zeros(0, np.int64))


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
    bank_rated: np.ndarray  # (n, I): offers priced by a bank (which rations above max_rate)
    edge_pd: np.ndarray  # per trade edge: PD of the core behind its confirmation or bill
    params: np.ndarray  # pricing's scalar parameters (`price_loop`), the guarantor's unset

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """The fields pricing reads per SME, by name."""
        return {k.name: getattr(self, k.name) for k in fields(self) if k.name not in _NOT_COLUMNS}


_NOT_COLUMNS = ("edge_pd", "params")  # plan fields that pricing does not read per SME


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
        upstream=(net.sme_role == TIER1) | (net.sme_role == TIER2),
        distributor=net.sme_role == DISTRIBUTOR,
        conf_rate=np.where(via_factor, b.funding_rate + f.margin,
                           b.funding_rate + 0.5 * b.margin),
        credit_cap=b.credit_limit_months * net.sme_sales * sme.quality,
        opacity=b.opacity_premium * (1 - sme.quality),
        fee=np.where(sme.waived, 0.0, cfg.guarantor.fee_rate),
        own_core_pd=model.core_pd[net.sme_core],
        bank_rated=np.ascontiguousarray((banky[:, None] & (lender != b.n_banks)).T),
        edge_pd=np.where(model.edge_core >= 0, model.core_pd[np.maximum(model.edge_core, 0)],
                         model.core_pd[np.maximum(model.bill_core, 0)]),
        params=_params(model))


def _params(model: SCFModel) -> np.ndarray:
    """Pricing's scalar parameters by position (`price_loop`); the guarantor's acceptance
    threshold and outreach, which adapt monthly, are set when pricing."""
    cfg = model.cfg
    b, g, f, acc = cfg.bank, cfg.guarantor, cfg.factoring, cfg.access
    one_stop = acc.one_stop_factor if acc.one_stop else 1.0
    p = np.zeros(pl.N_PARAMS)
    p[[pl.FUNDING_RATE, pl.MARGIN, pl.FIXED_COST, pl.LGD, pl.ADVANCE, pl.PLEDGE_HAIRCUT,
       pl.MAX_RATE, pl.APP_COST, pl.TERM, pl.COST_SHARE]] = (
        b.funding_rate, b.margin, b.fixed_cost, b.lgd, b.advance_rate, b.pledge_haircut,
        b.max_rate, acc.application_cost * one_stop, model.term, cfg.population.cost_share)
    p[[pl.PER_FIRM_CAP, pl.COVERAGE, pl.DELAY_FACTOR, pl.ADDITIONAL_ONLY]] = (
        g.per_firm_cap, g.coverage,
        math.exp(-g.delay_months * one_stop / cfg.population.order_patience_months),
        float(g.additional_only))
    p[[pl.F_MAX_PD, pl.F_ADVANCE, pl.F_MARGIN]] = f.max_pd, f.advance_rate, f.margin
    return p


def make_offers(model: SCFModel, need: np.ndarray, sales: np.ndarray, inputs: np.ndarray,
                invoice: np.ndarray, confirmed: np.ndarray, bills: np.ndarray) -> mk.Offers:
    """The (SME x instrument) offer matrices for this month."""
    z = model.drawn.screening  # one per SME
    s = offer_columns(model, need, sales, invoice, confirmed, bills, z)
    amount, rate, pd_bank, app_rate, blocked, bidders = price(model, s)
    # the need the guarantor would take but banks refuse, added block by block (as priced
    # before the loop was compiled: the sums of each block, in block order)
    for lo in range(0, model.n, _BLOCK):
        model.guarantor.note_demand(float(blocked[lo:lo + _BLOCK].sum()))
    plan = model.offer_plan
    model.fee_rate_now = plan.fee
    return mk.Offers(amount=amount, rate=rate, lender=model.loans.lender, priority=pd_bank,
                     charges=mk.Charges(app_rate, plan.fee), bidders=bidders)


def offer_columns(model: SCFModel, need: np.ndarray, sales: np.ndarray, invoice: np.ndarray,
                  confirmed: np.ndarray, bills: np.ndarray, z: np.ndarray) -> SimpleNamespace:
    """Every per-SME column that pricing reads, by name (the plan's, the month's, the book's)."""
    sme, n, plan = model.sme, model.n, model.offer_plan
    # what needs more than the SME's own row: sums over its trade edges and its loans
    conf_total, core_pd, inv_total = pl.edge_totals(n, model.net.edge_seller, confirmed, bills,
                                                    plan.edge_pd, invoice)
    banks_max_pd = np.array([bk.max_pd for bk in model.banks])
    return SimpleNamespace(
        **plan.columns,
        pd=sme.pd, quality=sme.quality, z=z, need=need, sales=sales,
        alive=sme.alive, bank_access=sme.bank_access, order_ok=sme.order_ok,
        shared=sme.shared, conf_total=conf_total, core_pd=core_pd,
        inv_total=inv_total,
        credit_out=model.loans.outstanding(mk.CREDIT),
        guar_out=model.loans.outstanding(mk.GUAR),
        contract=model.month - model.guar_opened < 12,
        hurdle=model.hurdle,
        bank_max_pd=banks_max_pd.take(model.loans.credit_lender),
    )


def price(model: SCFModel, s: SimpleNamespace) -> tuple[np.ndarray, ...]:
    """Price every SME's offers from its columns `s`: (amount, rate) as (SME, instrument)
    matrices, the banks' PD estimates, the annualised application costs, and the need the
    guarantor would take but the bank refuses (per SME), and the SMEs in clearing's first
    round (in need, with an offer).

    Banks see a noisy estimate of PD; their price covers funding, margin, the facility's fixed
    cost (a twelfth of a yearly cost, on a loan that runs for the term), expected loss and an
    opacity premium. Confirmed receivables are priced on the core's risk, order finance and
    distributors' prepayments and pledges are secured, credit loans are limited by what the bank
    can see, guaranteed loans (within the per-firm cap; with additionality only for firms the
    bank's own instruments leave short, unless the guarantor goes out for business) carry the
    guarantor's fee and lose orders to its delay, and the factor buys unconfirmed receivables
    with recourse. An offer is made only where its amount is positive, its rate within the SME's
    hurdle and, from a bank, within the bank's ceiling. The loop is `price_loop.price_offers`.
    """
    n = model.n
    p = model.offer_plan.params.copy()
    p[pl.G_MAX_PD], p[pl.OUTREACH] = model.guarantor.max_pd, model.guarantor.outreach
    buf = model.offer_buffers
    amount, rate = buf.amount, buf.rate
    pd_bank, app_rate, blocked = np.empty(n), np.empty(n), np.empty(n)
    bidders, asked = np.empty(n, np.int64), np.empty(n, np.int64)
    n_bid, n_asked = pl.price_offers(p, s.z, s.pd, s.noise_bank, s.drift_bank, s.noise_factor,
                            s.drift_factor, pd_bank, s.bank_max_pd, s.need, s.sales, s.quality,
                            s.alive, s.bank_access, s.order_ok, s.shared, s.distributor,
                            s.upstream, s.contract, s.conf_rate, s.credit_cap, s.opacity, s.fee,
                            s.own_core_pd, s.conf_total, s.core_pd, s.inv_total, s.credit_out,
                            s.guar_out, s.hurdle, s.bank_rated, amount,
                            rate, app_rate, blocked, bidders, asked, buf.written)
    buf.written = asked[:n_asked]
    return amount, rate, pd_bank, app_rate, blocked, bidders[:n_bid]
