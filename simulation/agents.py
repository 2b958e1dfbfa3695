"""Mesa agents of SCF-Sim.

Each firm and institution is a Mesa agent in `model.agents`. Per-firm state that the monthly cycle
touches lives in NumPy columns owned by the model (`model.sme`, `model.cores`); an SME agent's
attributes read those columns, so the market works on whole arrays while agents stay inspectable.
The few institutions (banks, guarantor, factoring sector) hold their own state and adapt here.
"""

from __future__ import annotations

import gc
from operator import attrgetter
from typing import TYPE_CHECKING

import mesa
import numpy as np
from mesa import Agent
from mesa.agentset import _HardKeyAgentSet

from simulation.networks import CORE_KIND_NAMES, ROLE_NAMES

if TYPE_CHECKING:
    from simulation.model import SCFModel

# Lenders' adaptation: judged on at least this many months of loss history, a risk threshold
# moves by these factors each month, and never falls below FLOOR x its configured value.
WARM_UP_MONTHS = 6
TIGHTEN, RELAX, FLOOR = 0.93, 1.03, 0.25
# A guarantor below a mandated leverage floor goes out for business: each month it widens its
# acceptance by EXPAND (up to MANDATE_PD_CAP x its configured threshold) and its outreach to the
# banks' own borrowers by OUTREACH_STEP (up to 1: additionality dropped), while its payout rate
# stays within tolerance.
EXPAND, MANDATE_PD_CAP, OUTREACH_STEP = 1.1, 2.0, 0.25
BINDING = ("none", "no_floor", "expanding", "tolerance", "ceiling", "bank_appetite", "demand")


class ColumnView(Agent):
    """An agent whose state is row `index` of the model's columns."""

    def __init__(self, model: SCFModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @classmethod
    def create_views(cls, model: SCFModel, n: int) -> None:
        """Create agents for rows 0..n-1 and register them, as `create_agents` would, in bulk.

        `Agent.__init__` registers one agent at a time (a signal, a log call and set updates
        each), which takes seconds for Shanghai's 500,000 SMEs. Here every agent gets the
        attributes `Agent.__init__` gives it (model, the next unique_id, pos) plus its index,
        and joins `model.agents` and `model.agents_by_type[cls]` in the same order. When
        anything listens for agent registration (a signal subscriber or a dataset), the
        one-by-one path runs instead so that it is told (listeners, signal batches, datasets).
        """
        if cls.listened(model):
            cls.create_agents(model, n, list(range(n)))
            return
        first = model.agent_id_counter
        model.agent_id_counter = first + n
        register_views(model, {cls: cls.views(model, first, n)})

    @classmethod
    def listened(cls, model: mesa.Model) -> bool:
        """Whether anything must be told of each new agent of `cls` (signals, datasets)."""
        return bool(cls._datasets or model._batch_context is not None
                    or any(model.subscribers.values()))

    @classmethod
    def views(cls, model: mesa.Model, first: int, n: int) -> list[ColumnView]:
        """Agents for rows 0..n-1 with unique ids first..first + n - 1, not registered."""
        new = object.__new__
        agents = []
        append = agents.append
        was_enabled = gc.isenabled()
        gc.disable()  # the cyclic collector would rescan the growing set of new objects
        try:
            for i in range(n):
                a = new(cls)
                a.model = model
                a.unique_id = first + i
                a.pos = None
                a.index = i
                append(a)
        finally:
            if was_enabled:
                gc.enable()
        return agents


_unique_id = attrgetter("unique_id")


def register_views(model: mesa.Model, views: dict[type, list[ColumnView]]) -> None:
    """Put `views` (by class, each list in id order) into `model.agents` and
    `model.agents_by_type`, every set kept in unique-id order (the order of creation) whatever
    was registered since their ids were handed out."""
    every = model._all_agents._agents
    made = [a for agents in views.values() for a in agents]
    # two runs in id order (Mesa registers in creation order): the sort merges them
    merged = sorted([*every, *made], key=_unique_id)
    every.clear()
    every.update(dict.fromkeys(merged))
    by_type = model._agents_by_type
    for cls, agents in views.items():
        if cls not in by_type:
            by_type[cls] = _HardKeyAgentSet([], random=model.random)
        mine = by_type[cls]._agents
        joined = dict.fromkeys(sorted([*mine, *agents], key=_unique_id))
        mine.clear()
        mine.update(joined)
    # types in order of their first agent, as one-by-one registration would have added them
    first = {cls: next(iter(agents._agents)).unique_id if agents._agents else 0
             for cls, agents in by_type.items()}
    kept = sorted(by_type.items(), key=lambda item: first[item[0]])
    by_type.clear()
    by_type.update(kept)


class SME(ColumnView):
    """A small supplier (tier 1 or 2) or distributor; a view over the model's SME columns."""

    @property
    def role(self) -> str:
        return ROLE_NAMES[self.model.net.sme_role[self.index]]

    @property
    def cash(self) -> float:
        return float(self.model.ledger.balance[self.index])

    @property
    def alive(self) -> bool:
        return bool(self.model.sme.alive[self.index])

    @property
    def true_pd(self) -> float:
        return float(self.model.sme.pd[self.index])

    @property
    def remote(self) -> bool:
        return bool(self.model.sme.remote[self.index])

    @property
    def debt(self) -> float:
        """Principal outstanding on all instruments."""
        return float(self.model.loans.principal_of(self.index).sum())


class CoreFirm(ColumnView):
    """A core firm, order-led manufacturer or end buyer, or the procurement platform."""

    @property
    def kind(self) -> str:
        return CORE_KIND_NAMES[self.model.net.core_kind[self.index]]

    @property
    def grade(self) -> str:
        return "ABC"[self.model.net.core_grade[self.index]]

    @property
    def confirmations_outstanding(self) -> float:
        return float(self.model.core_conf[self.index].sum())


class Bank(Agent):
    """A bank with capital, a capital-ratio limit and a risk appetite that tightens on losses."""

    def __init__(self, model: SCFModel, index: int, capital: float) -> None:
        super().__init__(model)
        self.index = index
        self.equity = capital
        self.max_pd = model.cfg.bank.max_pd
        self.principal = 0.0  # loans outstanding, the factoring line included
        self.matured = np.zeros(12)  # trailing 12 months of principal matured
        self.bad = np.zeros(12)  # ... and of principal that matured unpaid

    @property
    def room(self) -> float:
        """How much more it may lend under its capital ratio."""
        return max(self.equity / self.model.cfg.bank.capital_ratio - self.principal, 0.0)

    @property
    def npl_ratio(self) -> float:
        m = self.matured.sum()
        return float(self.bad.sum() / m) if m > 0 else 0.0

    def adapt(self) -> None:
        """Tighten the risk appetite while non-performing loans exceed tolerance, else relax."""
        cfg = self.model.cfg.bank
        if self.model.month < WARM_UP_MONTHS:
            return
        if self.npl_ratio > cfg.npl_tolerance:
            self.max_pd = max(self.max_pd * TIGHTEN, FLOOR * cfg.max_pd)
        else:
            self.max_pd = min(self.max_pd * RELAX, cfg.max_pd)


class Guarantor(Agent):
    """The government financing guarantor: leverage ceiling and mandated floor, per-firm cap,
    payout tolerance."""

    def __init__(self, model: SCFModel) -> None:
        super().__init__(model)
        self.max_pd = model.cfg.guarantor.max_pd
        self.outreach = 0.0  # 0: strict additionality; 1: takes the bank's borrowers too
        self.payouts = np.zeros(12)  # trailing 12 months of payouts
        self.exposure = np.zeros(12)  # ... and of guarantees outstanding at each settlement
        self.blocked = 0.0  # this month's need the guarantor would take but banks refuse
        self.binding = "no_floor"  # what kept leverage below the floor, as of this month

    @property
    def capital(self) -> float:
        return float(self.model.ledger.balance[self.model.ledger.guarantor])

    @property
    def outstanding(self) -> float:
        return float(self.model.loans.guaranteed_outstanding())

    @property
    def leverage(self) -> float:
        return self.outstanding / self.capital if self.capital > 0 else 0.0

    @property
    def room(self) -> float:
        return max(self.capital * self.model.cfg.guarantor.leverage_max - self.outstanding, 0.0)

    @property
    def payout_rate(self) -> float:
        """Annual payouts over average guarantees outstanding (trailing 12 months).

        Annual, like the study's compensation rate on one-year guarantees, although the model's
        guaranteed loans run for the payment term.
        """
        months = min(self.model.month + 1, 12)
        exposure = self.exposure.sum() / months
        return float(self.payouts.sum() * 12 / months / exposure) if exposure > 0 else 0.0

    def note_demand(self, blocked_by_bank: float) -> None:
        """Record need the guarantor would guarantee but the bank will not lend on."""
        self.blocked += blocked_by_bank

    def adapt(self) -> None:
        """Tighten acceptance while the payout rate net of reimbursement exceeds tolerance; under
        a leverage floor, go out for business while below it; else relax back."""
        cfg = self.model.cfg.guarantor
        blocked, self.blocked = self.blocked, 0.0
        net = self.payout_rate * (1.0 - cfg.reimbursement_share)
        over = self.model.month >= WARM_UP_MONTHS and net > cfg.payout_tolerance
        below = cfg.leverage_floor > 0 and self.leverage < cfg.leverage_floor
        if over:
            self.max_pd = max(self.max_pd * TIGHTEN, FLOOR * cfg.max_pd)
            self.outreach = max(self.outreach - OUTREACH_STEP, 0.0)
        elif below:
            self.max_pd = min(self.max_pd * EXPAND, MANDATE_PD_CAP * cfg.max_pd)
            self.outreach = min(self.outreach + OUTREACH_STEP, 1.0)
        elif cfg.leverage_floor <= 0:
            self.max_pd = min(self.max_pd * RELAX, cfg.max_pd)
            self.outreach = max(self.outreach - OUTREACH_STEP, 0.0)
        self.binding = self._binding(over, below, blocked)

    def _binding(self, over: bool, below: bool, blocked: float) -> str:
        """What keeps leverage below a mandated floor (one of BINDING)."""
        cfg = self.model.cfg.guarantor
        if cfg.leverage_floor <= 0:
            return "no_floor"
        if not below:
            return "none"
        if over:
            return "tolerance"
        if cfg.leverage_max <= cfg.leverage_floor or self.room <= 0:
            return "ceiling"
        if self.outreach < 1.0 or self.max_pd < MANDATE_PD_CAP * cfg.max_pd:
            return "expanding"
        # the need it would take that banks refuse, held for a term, against the gap to the floor
        gap = cfg.leverage_floor * self.capital - self.outstanding
        return "bank_appetite" if blocked * self.model.term >= gap else "demand"


class FactoringFirm(Agent):
    """The factoring sector: capacity is its equity times the bank line it gets."""

    def __init__(self, model: SCFModel, equity: float) -> None:
        super().__init__(model)
        self.equity = equity
        self.line = equity * (model.cfg.factoring.bank_line_multiple - 1.0)
        self.principal = 0.0

    @property
    def room(self) -> float:
        return max(self.equity + self.line - self.principal, 0.0)
