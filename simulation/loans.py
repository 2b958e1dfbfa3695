"""The loan book: every SME's financing by instrument, in maturity slots of a ring buffer.

All working-capital finance runs for the payment term (it bridges the wait for a receivable), so a
loan written in month t matures in month t + term; `slots = term + 1` keeps the cohort written this
month apart from the one settling this month.
"""

from __future__ import annotations

import numpy as np

from simulation.market import GUAR, N_INSTRUMENTS


class LoanBook:
    """Amounts due, principal and guarantee fees by (SME, instrument, maturity slot)."""

    def __init__(self, n_smes: int, term: int, lender: np.ndarray) -> None:
        self.term = term
        self.slots = term + 1
        self.due = np.zeros((n_smes, N_INSTRUMENTS, self.slots))
        self.principal = np.zeros((n_smes, N_INSTRUMENTS, self.slots))
        self.fee = np.zeros((n_smes, self.slots))  # guarantee fees owed to the guarantor
        self.lender = lender  # (n, I): which lender serves each SME on each instrument

    def write_slot(self, month: int) -> int:
        return month % self.slots

    def mature_slot(self, month: int) -> int:
        return (month + 1) % self.slots

    def write(self, month: int, funded: np.ndarray, rate: np.ndarray,
              fee_rate: np.ndarray) -> None:
        """Book this month's loans: interest at `rate` less the guarantor's fee share."""
        s = self.write_slot(month)
        years = self.term / 12.0
        fee = funded[:, GUAR] * fee_rate * years
        interest = funded * np.where(np.isfinite(rate), rate, 0.0) * years
        interest[:, GUAR] -= funded[:, GUAR] * fee_rate * years
        self.principal[:, :, s] = funded
        self.due[:, :, s] = funded + np.maximum(interest, 0.0)
        self.fee[:, s] = fee

    def outstanding(self, instrument: int | None = None) -> np.ndarray:
        """Principal outstanding per SME, on one instrument or on all."""
        if instrument is None:
            return self.principal.sum(axis=(1, 2))
        return self.principal[:, instrument, :].sum(axis=1)

    def guaranteed_outstanding(self) -> float:
        return float(self.principal[:, GUAR, :].sum())
