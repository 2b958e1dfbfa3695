"""What a run measures: monthly indicators by SME group, and the run's summary.

Credit access counts SME-months: of the SMEs that needed finance in a month, the share whose need
was fully met. Money is in 10,000 CNY; rates are annual fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulation import record_loop
from simulation.costs import SUMMARY_KEYS as COST_KEYS
from simulation.costs import LeverCosts
from simulation.market import INSTRUMENTS, LOAN_MASK, Funded, at_cells
from simulation.networks import ROLE_NAMES

if TYPE_CHECKING:
    from simulation.model import SCFModel

# Size classes by annual sales (China's 2011 SME standard for industry: micro below 300 万 of
# revenue, small below 2,000 万, medium above) and risk bands by true annual PD (fixed cut-offs).
SIZE_NAMES = ("size_micro", "size_small", "size_medium")
SIZE_CUTS = (300.0 / 12, 2000.0 / 12)  # 10k CNY of monthly sales
RISK_NAMES = ("risk_low", "risk_medium", "risk_high")
RISK_CUTS = (0.02, 0.05)  # annual PD
GROUPS: tuple[str, ...] = ("all", *ROLE_NAMES, *SIZE_NAMES, *RISK_NAMES)
ROLE_GROUPS: tuple[str, ...] = ROLE_NAMES
# The study's small and micro loans: single credit up to 1,000 万 (10 million CNY)
SMALL_LOAN_CAP = 1000.0
VOLUME_COLUMNS: tuple[str, ...] = tuple(f"vol_{k}" for k in INSTRUMENTS)
COST_COLUMNS: tuple[str, ...] = tuple(f"cost_{k}" for k in INSTRUMENTS)  # summed, not reported
# Bank loans proper (not receivable purchases): the study's "inclusive small-business loan rate"
LOAN_INSTRUMENTS = [int(k) for k in np.flatnonzero(LOAN_MASK)]
_IS_LOAN = LOAN_MASK
GROUP_METRICS: tuple[str, ...] = (
    "credit_access_rate", "funded_share", "financing_gap", "avg_cost_of_funds", "avg_loan_rate",
    "finance_charges", "finance_cost_share", "lost_output",
    "sme_defaults", "guarantee_outstanding",
    "loan_balance", "borrowers", "balance_per_borrower", "borrower_share",
)
# stocks at the end of a month: a run's summary takes their mean over its last quarter (loan
# cohorts that start together cycle with the payment term), not the sum
STOCK_METRICS: tuple[str, ...] = ("guarantee_outstanding", "loan_balance", "borrowers",
                                  "balance_per_borrower", "borrower_share")
SYSTEM_METRICS: tuple[str, ...] = (
    "guarantor_leverage", "guarantee_payout_rate", "guarantor_outreach", "bank_npl_ratio",
    "confirmations_outstanding", "public_cost", "ledger_residual",
)
MONTHLY_METRICS: tuple[str, ...] = (
    "n_active", "n_need", "n_funded", "need", "funded", "sales", *GROUP_METRICS,
    *VOLUME_COLUMNS,
    *SYSTEM_METRICS, "arrears_late", "arrears_enforced",
)
# summary entries that are dicts instrument -> value (flattened as `volume_by_instrument.<k>`)
BY_INSTRUMENT: tuple[str, ...] = ("volume_by_instrument", "rate_by_instrument")
# summed over the run besides the group metrics: finance needed (10k CNY)
RUN_TOTALS: tuple[str, ...] = ("need",)
SUMMARY_KEYS: tuple[str, ...] = (*GROUP_METRICS, *RUN_TOTALS, *BY_INSTRUMENT, *SYSTEM_METRICS,
                                 "guaranteed_firms", "guarantee_per_firm", "arrears_repaid_share",
                                 "guarantor_binding", *COST_KEYS)
STATUS = ("no_need", "funded", "rationed", "defaulted")
# a month's per-SME columns totalled by group (counts and sums), in the monthly rows' order
_ROWS: tuple[str, ...] = (
    "n_active", "n_need", "n_funded", "need", "funded", "sales", "cost", "loan_interest",
    "loan_volume", "lost_output", "sme_defaults", "guarantee_outstanding", "loan_balance",
    "borrowers", *VOLUME_COLUMNS,
)
_ROW = {name: i for i, name in enumerate(_ROWS)}
# where record_loop.month_table writes each of its columns
_AT = np.array([_ROW[k] for k in (
    "n_active", "n_need", "n_funded", "need", "funded", "sales", "cost", "loan_interest",
    "loan_volume", "lost_output", "sme_defaults", "guarantee_outstanding", "loan_balance",
    "borrowers", VOLUME_COLUMNS[0])], np.int64)
# the monthly rows' keys after month and group: the table's, each instrument's cost, the rates
_ROW_KEYS: tuple[str, ...] = (*_ROWS, *COST_COLUMNS, *record_loop.DERIVED)
# where record_loop.derive reads each of its rows
_DERIVE_AT = np.array([_ROW[k] for k in (
    "n_funded", "n_need", "funded", "need", "cost", "sales", "loan_balance", "borrowers",
    "n_active", "loan_interest", "loan_volume", VOLUME_COLUMNS[0])], np.int64)


@dataclass
class MonthRecord:
    """One month's per-SME outcomes, handed from the model to the recorder."""

    month: int
    need: np.ndarray
    funded: Funded  # the (n, I) amounts funded, cell by cell
    rate: np.ndarray  # (n, I)
    charges: np.ndarray  # (n, I) fees and application costs included in `rate`
    delivered_share: np.ndarray
    sales: np.ndarray
    defaulted: np.ndarray
    payouts: float
    reimbursement: float
    subsidy: float


class Recorder:
    """Aggregates each month by group; keeps per-SME status for replaying the network."""

    def __init__(self, model: SCFModel) -> None:
        self.model = model
        net, pd = model.net, model.sme.pd
        role = net.sme_role.astype(np.int64)
        self.group_of = role + 1  # 0 is "all"
        size = np.searchsorted(SIZE_CUTS, net.sme_sales, side="right")
        risk = np.searchsorted(RISK_CUTS, pd, side="right")
        # each SME's group in each breakdown, as an index into GROUPS
        self.codes = np.stack((self.group_of, 1 + len(ROLE_NAMES) + size,
                               1 + len(ROLE_NAMES) + len(SIZE_NAMES) + risk)).astype(np.int64)
        self.rows: list[dict[str, Any]] = []
        self.status: list[np.ndarray] = []
        self.public_cost = 0.0
        self.costs = LeverCosts(model)  # every lever's public cost, item by item

    def record(self, r: MonthRecord) -> None:
        m = self.model
        # every per-SME column, one row each, totalled by group in one compiled pass
        # (record_loop.month_table): per-SME sums over the funded cells only, added in
        # instrument order as over full rows; counts are sums of 0/1 (exact), "all" is
        # NumPy's sum of the row
        f = r.funded
        table, cost_by, status = record_loop.month_table(
            _AT, len(_ROWS), r.need, m.sme.alive, r.sales, r.delivered_share, r.defaulted,
            m.loans.outstanding(4), m.loans.principal_by_sme(LOAN_MASK), SMALL_LOAN_CAP,
            f.sme, f.instrument, f.amount, at_cells(r.rate, f),
            np.asarray(r.charges[f.sme, f.instrument], float), _IS_LOAN, self.codes,
            len(GROUPS))
        # each instrument's all-in cost, from the cells; then the rates (`_derive`, compiled)
        derived = record_loop.derive(table, _DERIVE_AT, len(VOLUME_COLUMNS), m.term)
        values = np.concatenate((table, cost_by, derived)).T.tolist()  # by group
        public = self.costs.month(r)  # fee subsidies, reimbursements and the levers' costs
        self.public_cost += public
        g = m.guarantor
        system = {
            "guarantor_leverage": g.outstanding / g.capital if g.capital > 0 else 0.0,
            "guarantee_payout_rate": g.payout_rate,
            "guarantor_outreach": g.outreach,
            "bank_npl_ratio": _ratio(sum(b.bad.sum() for b in m.banks),
                                     sum(b.matured.sum() for b in m.banks)),
            "confirmations_outstanding": float(m.core_conf.sum()),
            "public_cost": public,
            "ledger_residual": m.ledger.residual,
            "arrears_late": m.arrears[0],
            "arrears_enforced": m.arrears[0] - m.arrears[1],
        }
        keys = ("month", "group", *_ROW_KEYS, *system)
        missing = (np.nan,) * len(system)  # system metrics are the "all" row's
        system_values = tuple(system.values())
        for group, by_group in zip(GROUPS, values, strict=True):
            self.rows.append(dict(zip(keys, (r.month, group, *by_group, *(
                system_values if group == "all" else missing)), strict=True)))
        self.status.append(status)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        return df[["month", "group", *MONTHLY_METRICS]]

    def summary(self) -> dict[str, Any]:
        """The run's totals and rates, overall and by group.

        Sums over months add in NumPy's order, as pandas adds a float column (the row
        dicts are read straight, without building a frame: tests/simulation/test_model.py).
        """
        rows, m = self.rows, self.model
        out: dict[str, Any] = {}
        by_group: dict[str, dict[str, Any]] = {}
        last = max(row["month"] for row in rows)
        for gi, group in enumerate(GROUPS):
            sub = rows[gi::len(GROUPS)]  # the group's rows, month by month
            row = {k: _total([r[k] for r in sub]) for k in _SUMMED}
            end = [r for r in sub if r["month"] > last - 3]
            row.update({k: _total([r[k] for r in end]) / len(end) for k in _END_MEANS})
            _derive(row, m.term)
            res = {k: row[k] for k in (*GROUP_METRICS, *RUN_TOTALS) if k in row}
            res["volume_by_instrument"] = {k: row[f"vol_{k}"] for k in INSTRUMENTS}
            # annual all-in rate paid on each instrument, weighted by volume; None if unused
            res["rate_by_instrument"] = {
                k: float(row[f"cost_{k}"] / row[f"vol_{k}"]) if row[f"vol_{k}"] > 0 else None
                for k in INSTRUMENTS
            }
            by_group[group] = res
        out.update(by_group.pop("all"))
        g = m.guarantor
        g_out = m.loans.outstanding(4)
        firms = int((g_out > 0).sum())
        # (a system metric is NaN on the groups' rows: a frame's sum counts those as zeros)
        late, enforced = (_total([0.0 if np.isnan(r[k]) else r[k] for r in rows])
                          for k in ("arrears_late", "arrears_enforced"))
        out.update({
            "guarantor_leverage": g.outstanding / g.capital if g.capital > 0 else 0.0,
            "guarantee_payout_rate": g.payout_rate,
            "guarantor_outreach": g.outreach,
            "guarantor_binding": g.binding,
            "bank_npl_ratio": float(rows[-len(GROUPS)]["bank_npl_ratio"]),
            "confirmations_outstanding": float(m.core_conf.sum()),
            "public_cost": self.public_cost,
            "ledger_residual": m.ledger.residual,
            "guaranteed_firms": firms,
            "guarantee_per_firm": float(g_out.sum() / firms) if firms else 0.0,
            "arrears_repaid_share": float(enforced / late) if late > 0 else 1.0,
            **self.costs.summary(),
        })
        out["by_group"] = by_group
        return {k: out[k] for k in (*SUMMARY_KEYS, "by_group")}


# a run's summary adds these over its months, and averages these over its last quarter
_SUMMED: tuple[str, ...] = (
    "n_need", "n_funded", "need", "funded", "sales", "cost", "loan_interest", "loan_volume",
    "lost_output", "sme_defaults", *VOLUME_COLUMNS, *COST_COLUMNS)
_END_MEANS: tuple[str, ...] = ("n_active", "loan_balance", "borrowers", "guarantee_outstanding")


def _total(values: list[float]) -> float:
    """NumPy's sum of `values` (pairwise), which is how pandas adds a frame's float column."""
    return float(np.array(values, dtype=float).sum())


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else 0.0


def _share(a: float, b: float) -> float:
    """a / b, or NaN where nothing was there to share (an empty group reports no value)."""
    return float(a / b) if b > 0 else np.nan


def _derive(row: dict[str, Any], term: int) -> None:
    """Rates from the month's (or run's) counts and volumes (the monthly rows take them from
    its compiled twin, `record_loop.derive`)."""
    row["credit_access_rate"] = _share(row["n_funded"], row["n_need"])
    row["funded_share"] = _share(row["funded"], row["need"])
    # money paid for this finance over its life (annual rates run for the term)
    row["finance_charges"] = row["cost"] * term / 12.0
    row["finance_cost_share"] = _share(row["finance_charges"], row["sales"])
    row["balance_per_borrower"] = _share(row["loan_balance"], row["borrowers"])
    row["borrower_share"] = _share(row["borrowers"], row["n_active"])
    row["financing_gap"] = max(row["need"] - row["funded"], 0.0)
    volume = sum(row[c] for c in VOLUME_COLUMNS)
    row["avg_cost_of_funds"] = row["cost"] / volume if volume > 0 else np.nan
    row["avg_loan_rate"] = (row["loan_interest"] / row["loan_volume"]
                            if row["loan_volume"] > 0 else np.nan)
