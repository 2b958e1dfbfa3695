"""SCFModel: the monthly cycle of orders, financing, production and settlement.

The step reads like the design brief: demand and orders -> working-capital needs -> financing
market -> production and delivery -> settlement -> adaptation -> data collection. Randomness comes
from one SeedSequence, spawned into a stream per purpose, and every stream draws the same numbers
whatever the policy, so a policy run and its baseline face the same firms and shocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
from mesa.agentset import AgentSet

from simulation import finance_loop, needs_loop, orders_loop, owners_loop
from simulation import market as mk
from simulation.agents import (
    SME,
    Bank,
    ColumnView,
    CoreFirm,
    FactoringFirm,
    Guarantor,
    register_views,
)
from simulation.config import ALL_SECTORS, CHAIN_TYPES, ScenarioConfig
from simulation.draws import Month, draw_month
from simulation.kernels import c_exp, c_pow
from simulation.ledger import Ledger
from simulation.loans import LoanBook
from simulation.metrics import MonthRecord, Recorder
from simulation.networks import TIER1, TIER2, TO_CORE, TO_SME, SupplyNetwork, build_network
from simulation.offers import OfferBuffers, make_offers, offer_plan
from simulation.production import produce
from simulation.settlement import settle, settlement_plan

STREAMS = ("network", "population", "demand", "screening", "confirm", "late", "failure")
CORE_PD_BY_GRADE = np.array([0.003, 0.01, 0.03])  # annual PD of cores graded A, B, C
RETAIN_MONTHS = 6  # owners retain earnings for this long after the firm was rationed
ORDER_DRIVEN = (CHAIN_TYPES.index("order_led"), CHAIN_TYPES.index("platform"))


@dataclass
class SMEColumns:
    """Per-SME attributes fixed for the run, and the alive flag."""

    pd: np.ndarray
    pd_month: np.ndarray
    hard: np.ndarray
    remote: np.ndarray
    shared: np.ndarray
    whitelisted: np.ndarray
    alt: np.ndarray
    waived: np.ndarray
    bank_access: np.ndarray
    order_ok: np.ndarray
    quality: np.ndarray  # banks' information quality
    quality_factor: np.ndarray  # the factor's (hard information and the receivable only)
    alive: np.ndarray


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One generator per purpose, all spawned from `seed` (common random numbers across
    scenarios: a lever changes only the draws of the streams it uses)."""
    seqs = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {n: np.random.default_rng(s) for n, s in zip(STREAMS, seqs, strict=True)}


def supply_network(config: ScenarioConfig, seed: int) -> SupplyNetwork:
    """The supply network that a run of `config` with `seed` trades on, without running it."""
    return build_network(config, random_streams(seed)["network"])


class SCFModel(mesa.Model):
    """A population of supply chains and their lenders, stepped one month at a time."""

    def __init__(self, config: ScenarioConfig | None = None, *, seed: int = 0) -> None:
        super().__init__(rng=seed)
        self.cfg = cfg = config or ScenarioConfig()
        self.seed = seed
        self.streams = random_streams(seed)
        self.net = net = build_network(cfg, self.streams["network"])
        n, c, b = net.n_smes, net.n_cores, cfg.bank.n_banks
        self.n, self.term = n, cfg.payment.term_months
        self.month = 0
        self.ledger = Ledger(n, c, b)
        self.changes = {c.month for c in cfg.schedule}
        self._init_population()
        self._init_institutions()
        self.settlement_plan = settlement_plan(self)
        self.offer_buffers = OfferBuffers.empty(n)
        self._reserve_views(((SME, n), (CoreFirm, c)))
        scale = n / 1000.0
        self.banks = [Bank(self, i, cfg.bank.capital * scale) for i in range(b)]
        self.guarantor = Guarantor(self)
        self.factor = FactoringFirm(self, cfg.factoring.equity * scale)
        self._derive_policy()
        self._init_pipeline()
        self._fund_institutions(scale)
        self.recorder = Recorder(self)
        self.drawn: Month | None = None  # this month's random draws, while it runs

    # ----------------------------------------------------------------- agents
    def _reserve_views(self, kinds: tuple[tuple[type[ColumnView], int], ...]) -> None:
        """The SMEs' and cores' agents: their unique ids are handed out now, in order, but the
        objects are made the first time anything looks at the model's agents (at 500,000 SMEs
        making them takes about half a second; the monthly cycle never needs them). Where
        something listens for new agents, they are made and registered now."""
        self._pending_views: list[tuple[type[ColumnView], int, int]] = []
        for cls, n in kinds:
            if cls.listened(self):
                cls.create_views(self, n)
            else:
                self._pending_views.append((cls, self.agent_id_counter, n))
                self.agent_id_counter += n

    def _make_views(self) -> None:
        if self.__dict__.get("_pending_views"):
            pending, self._pending_views = self._pending_views, []
            register_views(self, {cls: cls.views(self, first, n) for cls, first, n in pending})

    @property
    def agents(self) -> AgentSet:
        """Every agent (Mesa's `model.agents`), the SMEs' and cores' views made on first look."""
        self._make_views()
        return super().agents

    @property
    def agents_by_type(self) -> dict[type, AgentSet]:
        self._make_views()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        self._make_views()
        return super().agent_types

    def remove_all_agents(self) -> None:
        self._make_views()
        super().remove_all_agents()

    # ----------------------------------------------------------------- set-up
    def _init_population(self) -> None:
        cfg, net, rng = self.cfg, self.net, self.streams["population"]
        n, pop = self.n, cfg.population
        a = pop.pd_mean * pop.pd_concentration
        pd = rng.beta(a, pop.pd_concentration - a, n)
        hard = rng.beta(4 * pop.hard_info_mean, 4 * (1 - pop.hard_info_mean), n)
        u = rng.random((5, n))  # remote, data shared, white-listed, usage data, initial cash
        z_equity, z_hurdle = rng.standard_normal((2, n))
        self.uniforms = u
        self.sme = SMEColumns(
            pd=pd, pd_month=1 - c_pow(1 - pd, 1 / 12), hard=hard, remote=u[0] < pop.remote_share,
            # the policy-dependent columns are set by _derive_policy
            shared=np.zeros(n, bool), whitelisted=np.zeros(n, bool), alt=np.zeros(n, bool),
            waived=np.zeros(n, bool), bank_access=np.ones(n, bool), order_ok=np.zeros(n, bool),
            quality=np.zeros(n), quality_factor=np.zeros(n),
            alive=np.ones(n, bool))
        cost = pop.cost_share * net.sme_sales
        self.hurdle = pop.hurdle_rate * c_exp(pop.hurdle_sigma * z_hurdle)
        self.equity_target = pop.equity_months * cost * c_exp(
            pop.equity_sigma * z_equity - 0.5 * pop.equity_sigma ** 2)
        self.cash_target = pop.cash_months * cost
        self.ledger.endow(np.arange(n), self.cash_target * (0.5 + u[4]))
        bank = (net.sme_chain % cfg.bank.n_banks).astype(np.int32)
        lender = np.repeat(bank[:, None], mk.N_INSTRUMENTS, axis=1)
        lender[:, mk.FACTOR] = cfg.bank.n_banks
        self.loans = LoanBook(n, self.term, lender)
        self.chain_shock = np.zeros(len(net.chain_type))
        self.bills_month = -(10**6)  # the last month bills were split (none in flight after
        # a horizon more: each is cleared when its slot settles)
        self.guar_opened = np.full(n, -(10**6))  # month each SME's guarantee contract began
        self.last_short = np.full(n, -(10**6))  # last month an SME's need went unmet

    def _derive_policy(self) -> None:
        """Everything fixed for a run that a scheduled policy change can move: who shares data,
        information quality, fee waivers, who can reach the bank, the fixed parts of pricing."""
        cfg, net, sme, u = self.cfg, self.net, self.sme, self.uniforms
        b = cfg.bank
        waived_sectors = [ALL_SECTORS.index(s) for s in cfg.guarantor.fee_waiver_sectors]
        sme.shared = u[1] < cfg.core.data_sharing
        sme.whitelisted = np.asarray(cfg.core.whitelist & (u[2] < cfg.core.whitelist_share))
        sme.alt = np.asarray(cfg.bank.alt_data & (u[3] < cfg.bank.alt_data_coverage))
        # (membership worked out per chain, then read per SME: np.isin over every SME is slow)
        sme.waived = np.isin(net.chain_sector, waived_sectors)[net.sme_chain]
        sme.bank_access = ~sme.remote | cfg.access.online_accounts
        ctype = net.sme_chain_type
        sme.order_ok = sme.shared & sme.bank_access & (
            np.isin(net.chain_type, ORDER_DRIVEN)[net.sme_chain] | cfg.core.order_financing) & (
            (net.sme_role == TIER1) | ((net.sme_role == TIER2) & (ctype == ORDER_DRIVEN[0])))
        sme.quality = mk.info_quality([
            (b.weight_hard, sme.hard), (b.weight_gov, float(b.gov_data)),
            (b.weight_core, sme.shared), (b.weight_whitelist, sme.whitelisted),
            (b.weight_alt, sme.alt)])
        sme.quality_factor = mk.info_quality([(b.weight_hard, sme.hard)])
        lender = self.loans.lender.copy()
        bank = lender[:, mk.CREDIT]
        lender[:, mk.CONF] = np.where(sme.bank_access, bank, b.n_banks)
        self.loans.set_lender(lender)
        self.core_line = cfg.core.credit_line_months * self.core_purchases
        self.offer_plan = offer_plan(self)

    def _init_institutions(self) -> None:
        net, cfg = self.net, self.cfg
        e_core = net.edge_kind == TO_CORE
        purchases = np.bincount(net.edge_buyer[e_core],
                                net.sme_sales[net.edge_seller[e_core]] * net.edge_weight[e_core],
                                minlength=net.n_cores)
        self.core_purchases = purchases
        self.core_pd = CORE_PD_BY_GRADE[net.core_grade]
        self.horizon = self.term + cfg.payment.late_months + 1
        self.core_conf = np.zeros((net.n_cores, self.horizon))
        # cores hold enough cash for their longest payment pipeline
        self.ledger.endow(self.ledger.core0 + np.arange(net.n_cores),
                          2 * self.horizon * purchases * (1 + cfg.core.markup) + 1.0)
        # edges: receivables due to sellers, bills paid by cores, tier-1 payables outside;
        # (edge, month) arrays stored month-major, so that one month's column is contiguous
        e = len(net.edge_seller)
        self.recv = np.zeros((self.horizon, e)).T
        self.bills = np.zeros((self.horizon, e)).T
        self.pay_out = np.zeros((self.horizon, self.n)).T
        self.edge_core = np.where(e_core, net.edge_buyer, -1)
        self.to_sme = np.flatnonzero(net.edge_kind == TO_SME)
        # the core that backs a bill passed to a tier-2 edge: the tier-1 buyer's main core
        self.bill_core = np.full(e, -1, np.int64)
        self.bill_core[self.to_sme] = net.sme_core[net.edge_buyer[self.to_sme]]
        # a tier-1's main core edge (the one whose confirmation it splits into bills)
        self.primary_edge = np.full(self.n, -1, np.int64)
        core_edges = np.flatnonzero(e_core)
        first = np.r_[True, net.edge_seller[core_edges][1:] != net.edge_seller[core_edges][:-1]]
        self.primary_edge[net.edge_seller[core_edges[first]]] = core_edges[first]

    def _init_pipeline(self) -> None:
        """Start in steady state: the last `term` months of sales are receivables in flight,
        carried by the owners' target net working capital and, beyond it, by credit-line loans
        from the SME's main bank (as much as it would lend on hard information) that fall due
        as the receivables come in; owners have put in whatever the bank would not carry."""
        net, b = self.net, self.cfg.bank
        base = net.sme_sales[net.edge_seller] * net.edge_weight
        for j in range(self.term):
            self.recv[:, j % self.horizon] = base
        e2 = self.to_sme
        payables = np.bincount(net.edge_buyer[e2], base[e2], minlength=self.n)
        cash = self.ledger.view(0, self.n)
        credit = b.credit_limit_months * net.sme_sales * self.sme.quality_factor
        carried = np.clip(self.term * (net.sme_sales - payables) + cash - self.equity_target,
                          0.0, credit)
        rate = b.funding_rate + b.margin + self.sme.pd * b.lgd
        for j in range(self.term):
            self.loans.write_legacy(j - self.term, carried / self.term, rate)
        principal = np.bincount(self.loans.lender[:, mk.CREDIT], carried,
                                minlength=len(self.banks))
        for bank in self.banks:
            bank.principal += principal[bank.index]

    def _fund_institutions(self, scale: float) -> None:
        cfg, led = self.cfg, self.ledger
        for bank in self.banks:
            led.endow(led.bank0 + bank.index, bank.equity / cfg.bank.capital_ratio + bank.equity)
        led.endow(led.guarantor, cfg.guarantor.capital * scale)
        led.endow(led.factor, self.factor.equity)
        # the factor's bank line, drawn from the banks in equal parts
        share = self.factor.line / len(self.banks)
        for bank in self.banks:
            led.transfer(led.bank0 + bank.index, led.factor, share, "factor_line")
            bank.principal += share
        led._initial_total = led.total

    # ------------------------------------------------------------------- step
    def step(self) -> None:
        """One month of the cycle."""
        t = self.month
        if t + 1 in self.changes:
            self._apply_schedule(t + 1)
        self.drawn = draw_month(self.streams, self.n, len(self.chain_shock),
                                len(self.net.edge_seller))
        self._failures()
        sales, outlay, inputs = self._orders()
        need, reserve = self._needs(outlay)
        funded, offers, confirmed, bills = self._finance(need, sales, inputs)
        share, subsidy = produce(self, sales, outlay, reserve, funded, offers.rate, confirmed,
                                 bills, inputs)
        settled = settle(self)
        self._adapt_and_pay_owners()
        self.recorder.record(MonthRecord(
            month=t + 1, need=need, funded=funded, rate=offers.rate, charges=offers.charges,
            delivered_share=share,
            sales=sales, subsidy=subsidy, **settled))
        self.month += 1

    def _apply_schedule(self, month: int) -> None:
        """Put the scheduled changes of `month` in force."""
        old = self.cfg
        self.cfg = cfg = self.cfg.at_month(month)
        self._derive_policy()
        if cfg.bank.max_pd != old.bank.max_pd:
            for bank in self.banks:
                bank.max_pd = cfg.bank.max_pd
        if cfg.guarantor.max_pd != old.guarantor.max_pd:
            self.guarantor.max_pd = cfg.guarantor.max_pd

    def _failures(self) -> None:
        """Exogenous failures at each SME's true default risk; the firm's cash is lost."""
        u = self.drawn.failure
        led = self.ledger
        self.failed_now, *booked = orders_loop.failures(
            led.balance, led._scratch, u, self.sme.pd_month, self.sme.alive, led.outside)
        led.book(orders_loop.FAILURE_KINDS, *booked)

    def _orders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Orders by chain demand shock and SME noise; cash outlay each order needs now."""
        net, pop = self.net, self.cfg.population
        z_chain, z_sme = self.drawn.z_chain, self.drawn.z_sme
        self.chain_shock, sales, inputs, outlay = orders_loop.orders(
            self.chain_shock, pop.demand_persistence,
            pop.demand_sigma * np.sqrt(1 - pop.demand_persistence ** 2), z_chain,
            pop.idio_sigma, z_sme, self.cfg.macro.demand_level,
            0.5 * (pop.demand_sigma ** 2 + pop.idio_sigma ** 2), net.sme_chain, net.sme_sales,
            self.sme.alive, net.edge_seller, net.edge_buyer, self.to_sme, pop.cost_share)
        return sales, outlay, inputs

    def _needs(self, outlay: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Financing need: the outlay plus any settlement shortfall (what each SME owes less
        what it is owed at this month's settlement), beyond cash in hand."""
        h, s = self.month % self.horizon, self.loans.mature_slot(self.month)
        c, net = self.loans.cohorts[s], self.net
        return needs_loop.needs(outlay, self.ledger.view(0, self.n), self.sme.alive, c.sme,
                                c.due, self.loans.fee[:, s], self.pay_out[:, h],
                                net.edge_seller, net.edge_buyer, self.to_sme, self.recv[:, h],
                                self.bills[:, h])

    def _finance(self, need: np.ndarray, sales: np.ndarray, inputs: np.ndarray):
        """Confirmations, bills, offers and clearing."""
        net, cfg = self.net, self.cfg
        draw = self.drawn.confirm  # one per trade edge
        # the cores' confirmations and the bills split from them, in one compiled loop
        if cfg.core.supply_chain_bills:
            self.bills_month = self.month
        invoice, confirmed, bills = finance_loop.confirm_and_bill(
            need, sales, net.edge_seller, net.edge_buyer, net.edge_weight, self.edge_core,
            draw, cfg.core.confirm_willingness, self.core_line, self.core_conf, self.to_sme,
            self.primary_edge, bool(cfg.core.supply_chain_bills), cfg.core.bill_pass_share)
        offers = make_offers(self, need, sales, inputs, invoice, confirmed, bills)
        room = np.array([bk.room for bk in self.banks] + [self.factor.room])
        room[:-1] = np.minimum(room[:-1], self.ledger.balance[self.ledger.bank0:
                                                              self.ledger.factor])
        room[-1] = min(room[-1], self.ledger.balance[self.ledger.factor])
        funded = mk.clear_cells(need, offers, room, self.guarantor.room)
        got = finance_loop.after_clearing(need, funded.sme, funded.instrument, funded.amount,
                                          self.month, self.last_short, self.guar_opened,
                                          mk.GUAR)
        if cfg.macro.deferral:
            funded = self._defer(np.maximum(need - got, 0.0), funded, offers)
        return funded, offers, confirmed, bills

    def _defer(self, short: np.ndarray, funded: mk.Funded, offers: mk.Offers) -> mk.Funded:
        """Repayment deferral: the main bank rolls over the bank-loan principal falling due
        that an SME still cannot meet (`short`: its need left unfunded), as a credit loan outside
        its normal appetite and room."""
        s = self.loans.mature_slot(self.month)
        due = self.loans.principal_due(s, mk.LOAN_MASK)
        roll = np.minimum(short, due) * self.sme.alive
        if not roll.any():
            return funded
        dense = funded.dense()
        dense[:, mk.CREDIT] += roll
        b = self.cfg.bank
        rate = offers.rate[:, mk.CREDIT]
        unpriced = (roll > 0) & ~np.isfinite(rate)
        rate[unpriced] = b.funding_rate + b.margin + self.sme.pd[unpriced] * b.lgd
        return mk.Funded.from_matrix(dense)

    def _adapt_and_pay_owners(self) -> None:
        """Lenders adapt their thresholds; owners take out net working capital above target."""
        for bank in self.banks:
            bank.adapt()
        self.guarantor.adapt()
        # owners of a firm rationed within RETAIN_MONTHS keep its earnings in the business
        keep = self.month - self.last_short < RETAIN_MONTHS
        idx, payout = owners_loop.owner_payouts(
            self.net_worth(), self.ledger.view(0, self.n), self.equity_target, self.cash_target,
            self.sme.alive & ~keep, self.cfg.population.payout_share)
        self.ledger.transfer(idx, self.ledger.outside, payout, "owner_payout")

    def net_worth(self) -> np.ndarray:
        """Each SME's net working capital: cash and receivables less loans, fees and payables
        due (what its owners have in the business)."""
        net, loans = self.net, self.loans
        return owners_loop.net_worth(
            self.ledger.view(0, self.n), net.edge_seller, net.edge_buyer, self.to_sme,
            self.recv.T, self.bills.T, self.pay_out.T, loans.fee.T, *loans.dues(),
            self.bills_in_flight())

    def bills_in_flight(self) -> bool:
        """Whether a bill split within the payment horizon may still be in the bills ring;
        when not, every slot has settled since, and settling clears its slot: all zeros."""
        return self.month - self.bills_month <= self.horizon
