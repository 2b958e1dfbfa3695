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
_N_GROUP_KEYS = len(_ROW_KEYS)
# every key of a monthly row after month and group: the groups', then the system's (their
# values are the "all" row's, NaN on the other rows), as `Recorder.values` keeps them
_KEYS: tuple[str, ...] = (*_ROW_KEYS, *SYSTEM_METRICS, "arrears_late", "arrears_enforced")
_KEY = {name: i for i, name in enumerate(_KEYS)}
_MONTHLY_AT = np.array([_KEY[k] for k in MONTHLY_METRICS], np.int64)
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


def breakdown_cells(codes: np.ndarray, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each SME's cell of the breakdowns in `codes` (b, n), whose groups follow "all" in order
    (`sizes` of them each), and each cell's group in each breakdown (cells, b): the recorder's
    table adds SMEs into cells, then cells into groups."""
    offsets = 1 + np.cumsum((0, *sizes[:-1]))
    cell_of = np.zeros(codes.shape[1], np.int64)
    for b, size in enumerate(sizes):
        cell_of = cell_of * size + (codes[b] - offsets[b])
    cell_groups = np.stack(np.unravel_index(np.arange(np.prod(sizes)), sizes), axis=1) + offsets
    return cell_of.astype(np.int64), cell_groups.astype(np.int64)


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
        self.cell_of, self.cell_groups = breakdown_cells(
            self.codes, (len(ROLE_NAMES), len(SIZE_NAMES), len(RISK_NAMES)))
        self.months: list[int] = []
        self._values = np.empty((0, len(GROUPS), len(_KEYS)))  # grown by `_next_block`
        self.status: list[np.ndarray] = []
        self.public_cost = 0.0
        self.costs = LeverCosts(model)  # every lever's public cost, item by item

    def record(self, r: MonthRecord) -> None:
        m = self.model
        # every per-SME column, one row each, totalled by group in one compiled pass
        # (record_loop.month_table): per-SME sums over the funded cells only, added in
        # instrument order as over full rows; counts are sums of 0/1 (exact), "all" the sum
        # of the role groups
        f = r.funded
        table, cost_by, status = record_loop.month_table(
            _AT, len(_ROWS), r.need, m.sme.alive, r.sales, r.delivered_share, r.defaulted,
            m.loans.outstanding(4), m.loans.principal_by_sme(LOAN_MASK), SMALL_LOAN_CAP,
            f.sme, f.instrument, f.amount, at_cells(r.rate, f),
            np.asarray(r.charges[f.sme, f.instrument], float), _IS_LOAN, self.codes,
            self.cell_of, self.cell_groups, len(GROUPS))
        public = self.costs.month(r)  # fee subsidies, reimbursements and the levers' costs
        self.public_cost += public
        g = m.guarantor
        # the table, each instrument's all-in cost (from the cells) and the rates (`_derive`,
        # compiled) by group
        block = self._next_block(r.month)
        record_loop.store_month(block, table, cost_by, _DERIVE_AT, len(VOLUME_COLUMNS), m.term)
        # the system metrics, in `_KEYS`' order, are the "all" row's (NaN on the groups' rows)
        block[0, _N_GROUP_KEYS:] = (
            g.outstanding / g.capital if g.capital > 0 else 0.0,
            g.payout_rate,
            g.outreach,
            _ratio(sum(b.bad.sum() for b in m.banks), sum(b.matured.sum() for b in m.banks)),
            float(m.core_conf.sum()),
            public,
            m.ledger.residual,
            m.arrears[0],
            m.arrears[0] - m.arrears[1],
        )
        self.status.append(status)

    def _next_block(self, month: int) -> np.ndarray:
        """The (groups, keys) block of a new month's values, the store grown as needed."""
        t = len(self.months)
        if t == len(self._values):
            grown = np.empty((max(2 * t, 12), len(GROUPS), len(_KEYS)))
            grown[:t] = self._values
            self._values = grown
        self.months.append(month)
        return self._values[t]

    @property
    def values(self) -> np.ndarray:
        """The monthly rows' values, (months, groups, keys) in `_KEYS`' order."""
        return self._values[:len(self.months)]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The monthly rows as dicts (month, group, then `_KEYS`), month by month."""
        return [dict(zip(("month", "group", *_KEYS), (month, group, *values), strict=True))
                for month, by_group in zip(self.months, self.values.tolist(), strict=True)
                for group, values in zip(GROUPS, by_group, strict=True)]

    def frame(self) -> pd.DataFrame:
        """The monthly rows as a tidy frame: month, group, then `MONTHLY_METRICS`."""
        n_months = len(self.months)
        flat = self.values.reshape(n_months * len(GROUPS), len(_KEYS))
        columns = {"month": np.repeat(np.array(self.months, np.int64), len(GROUPS)),
                   "group": np.tile(np.array(GROUPS, object), n_months)}
        columns.update(zip(MONTHLY_METRICS, flat[:, _MONTHLY_AT].T, strict=True))
        return pd.DataFrame(columns)

    def summary(self) -> dict[str, Any]:
        """The run's totals and rates, overall and by group.

        Sums over months add in NumPy's order, as pandas adds a float column (each group's
        months are summed as one contiguous run: tests/simulation/test_model.py).
        """
        m, values = self.model, self.values
        months = np.array(self.months)
        # (groups, keys, months): each group's and key's months contiguous, summed pairwise
        summed = _by_group_and_key(values, _SUMMED_AT).sum(axis=2).tolist()
        end = months > months.max() - 3
        end_sums = _by_group_and_key(values[end], _END_AT).sum(axis=2).tolist()
        n_end = int(end.sum())
        out: dict[str, Any] = {}
        by_group: dict[str, dict[str, Any]] = {}
        for gi, group in enumerate(GROUPS):
            row = dict(zip(_SUMMED, summed[gi], strict=True))
            row.update({k: v / n_end for k, v in zip(_END_MEANS, end_sums[gi], strict=True)})
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
        # (a system metric is NaN on the groups' rows: a frame's sum counts those as zeros,
        # over every row in order)
        late, enforced = (float(np.nan_to_num(values[:, :, _KEY[k]].ravel(), nan=0.0).sum())
                          for k in ("arrears_late", "arrears_enforced"))
        out.update({
            "guarantor_leverage": g.outstanding / g.capital if g.capital > 0 else 0.0,
            "guarantee_payout_rate": g.payout_rate,
            "guarantor_outreach": g.outreach,
            "guarantor_binding": g.binding,
            "bank_npl_ratio": float(values[-1, 0, _KEY["bank_npl_ratio"]]),
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


def _by_group_and_key(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """values[:, :, at] as a contiguous (groups, keys, months) array."""
    return np.ascontiguousarray(values[:, :, at].transpose(1, 2, 0))


# a run's summary adds these over its months, and averages these over its last quarter
_SUMMED: tuple[str, ...] = (
    "n_need", "n_funded", "need", "funded", "sales", "cost", "loan_interest", "loan_volume",
    "lost_output", "sme_defaults", *VOLUME_COLUMNS, *COST_COLUMNS)
_END_MEANS: tuple[str, ...] = ("n_active", "loan_balance", "borrowers", "guarantee_outstanding")


# where the summary reads them in the monthly rows' values
_SUMMED_AT = np.array([_KEY[k] for k in _SUMMED], np.int64)
_END_AT = np.array([_KEY[k] for k in _END_MEANS], np.int64)


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
