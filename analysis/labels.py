"""Names and number formats of the compared metrics, shared by the terminal tables, the HTML
report and its figures."""

from __future__ import annotations

import math
from typing import Any

from analysis.compare import MONEY_UNIT, TOTAL_CREDIT
from simulation.metrics import GROUPS

SHORT = {"all": "all SMEs", "tier1": "tier 1", "tier2": "tier 2", "distributor": "distrib.",
         "size_micro": "micro firms", "size_small": "small firms", "size_medium": "medium firms",
         "risk_low": "low risk", "risk_medium": "medium risk", "risk_high": "high risk"}
GROUP_LABELS = {g: SHORT.get(g, g) for g in GROUPS}  # the model's groups, in its order
RATES = {
    "credit_access_rate", "funded_share", "avg_cost_of_funds", "guarantee_payout_rate",
    "bank_npl_ratio", "arrears_repaid_share", "avg_loan_rate", "finance_cost_share",
    "borrower_share",
}  # fmt: skip
KEY_METRICS = (
    ("credit_access_rate", "credit access (share of SMEs in need fully funded)"),
    ("funded_share", "funded / needed volume"),
    (TOTAL_CREDIT, f"SME credit extended ({MONEY_UNIT})"),
    ("financing_gap", f"financing gap ({MONEY_UNIT})"),
    ("avg_cost_of_funds", "all-in cost of funds (annual)"),
    ("avg_loan_rate", "average loan rate (interest on bank loans, annual)"),
    ("loan_balance", f"small and micro loans outstanding ({MONEY_UNIT})"),
    ("borrowers", "small and micro borrowers"),
    ("lost_output", f"lost output ({MONEY_UNIT})"),
    ("sme_defaults", "SME defaults"),
    ("public_cost", f"public cost ({MONEY_UNIT})"),
    ("guarantor_leverage", "guarantor leverage used (x capital)"),
    ("guarantee_payout_rate", "guarantee payout rate"),
    ("bank_npl_ratio", "bank non-performing ratio"),
)
LABEL = dict(KEY_METRICS)


def fmt_value(metric: str, value: float, diff: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if diff and value > 0 else ""
    if metric in RATES:
        return f"{sign}{value * 100:.2f} pp" if diff else f"{value:.2%}"
    return f"{sign}{value:,.2f}" if abs(value) < 100 else f"{sign}{value:,.0f}"


def fmt_width(metric: str, value: float) -> str:
    """A half-width: rates in percentage points, other metrics in their unit."""
    return "+/-" + fmt_value(metric, value, True).lstrip("+")


def fmt_ci(metric: str, row: dict[str, Any]) -> str:
    return f"[{fmt_value(metric, row['ci_low'], True)}, {fmt_value(metric, row['ci_high'], True)}]"
