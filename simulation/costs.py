"""The public cost of the levers, month by month, item by item (10k CNY).

The model already pays two items in its ledger: the guarantee fees the government pays for
waived sectors (`fee_subsidy`) and its reimbursement of guarantor payouts (`reimbursement`).
The other levers cost money that never passes through a firm's books, so they are charged
here from `config.costs` (each figure's source or assumption is in the schema):

- `guarantor_expected_loss`: the expected loss on the guarantees written in the month
  (principal x each SME's true default probability over the term x the banks' loss given
  default x the guarantor's coverage), less the share the government reimburses (counted when
  paid): the guarantor's capital is public, so the losses a higher leverage lets it take on
  fall on the public. Expected, not realised, losses: one unlucky default does not make a
  lever look expensive.
- `guarantor_capital`: the cost of the public capital held by the guarantor.
- `gov_data`, `alt_data`, `one_stop`, `online_accounts`, `arrears`: running costs while the
  lever is on, per year (scaled per 1,000 SMEs) and per SME served.

Summed over items, each month's total is the model's `public_cost` for that month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulation.kernels import c_pow
from simulation.market import GUAR

if TYPE_CHECKING:
    from simulation.metrics import MonthRecord
    from simulation.model import SCFModel

COST_ITEMS: tuple[str, ...] = (
    "fee_subsidy", "reimbursement", "guarantor_expected_loss", "guarantor_capital",
    "gov_data", "alt_data", "one_stop", "online_accounts", "arrears",
)  # fmt: skip
SUMMARY_KEYS: tuple[str, ...] = tuple(f"public_cost_{k}" for k in COST_ITEMS)


class LeverCosts:
    """Accumulates the public cost of a run by item; `month` charges one month."""

    def __init__(self, model: SCFModel) -> None:
        """Built with the recorder, before the model funds its institutions."""
        self.model = model
        self.scale = model.n / 1000.0
        self.totals = dict.fromkeys(COST_ITEMS, 0.0)

    def month(self, r: MonthRecord) -> float:
        """Charge the month recorded in `r`; returns its total public cost."""
        m, c = self.model, self.model.cfg.costs
        cfg = self.model.cfg
        year = 1.0 / 12.0
        items = dict.fromkeys(COST_ITEMS, 0.0)
        items["fee_subsidy"] = r.subsidy
        items["reimbursement"] = r.reimbursement
        if c.guarantor_expected_loss:
            g = cfg.guarantor
            on = r.funded.instrument == GUAR  # the guaranteed cells, SME by SME
            pd_term = 1.0 - c_pow(1.0 - m.sme.pd_month[r.funded.sme[on]], m.term)
            loss = float((r.funded.amount[on] * pd_term).sum())
            items["guarantor_expected_loss"] = (
                loss * cfg.bank.lgd * g.coverage * (1.0 - g.reimbursement_share)
            )
        capital = max(m.guarantor.capital, 0.0)
        items["guarantor_capital"] = capital * c.guarantor_capital_rate * year
        if cfg.bank.gov_data or cfg.bank.alt_data:
            served = np.zeros(m.n, bool)
            served[r.funded.sme] = True  # SMEs funded this month
        if cfg.bank.gov_data:
            items["gov_data"] = (
                c.gov_data_per_year * self.scale + c.gov_data_per_sme * np.count_nonzero(served)
            ) * year
        if cfg.bank.alt_data:
            with_data = np.count_nonzero(served & m.sme.alt)
            items["alt_data"] = (
                c.alt_data_per_year * self.scale + c.alt_data_per_sme * with_data
            ) * year
        if cfg.access.one_stop:
            applicants = np.count_nonzero(r.need > 1e-9)
            items["one_stop"] = (
                c.one_stop_per_year * self.scale + c.one_stop_per_sme * applicants
            ) * year
        if cfg.access.online_accounts:
            items["online_accounts"] = c.online_accounts_per_year * self.scale * year
        if cfg.payment.enforcement > 0:
            enforced = m.arrears[0] - m.arrears[1]
            items["arrears"] = (
                c.arrears_per_year * self.scale * cfg.payment.enforcement * year
                + c.arrears_share * enforced
            )
        for k, v in items.items():
            self.totals[k] += float(v)
        return float(sum(items.values()))

    def summary(self) -> dict[str, float]:
        """The run's public cost by item, as `public_cost_<item>` summary entries."""
        return {f"public_cost_{k}": v for k, v in self.totals.items()}
