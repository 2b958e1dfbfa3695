"""The loan book: every SME's financing by instrument, in maturity slots of a ring buffer.

All working-capital finance runs for the payment term (it bridges the wait for a receivable), so a
loan written in month t matures in month t + term; `slots = term + 1` keeps the cohort written this
month apart from the one settling this month.

Most SMEs borrow on one or two of the seven instruments, so each slot keeps only its loans: the
cells (SME x instrument) that were funded, in SME-then-instrument order, with their amounts due and
principal. Sums over a cohort add the same numbers in the same order as sums over the full
(SME x instrument) matrix would (the cells left out are zeros), so results do not depend on it.
`due` and `principal` still give the full (SME, instrument, slot) arrays for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.kernels import add_bincount, chunked_sum, compiled, maximum
from simulation.market import CREDIT, GUAR, N_INSTRUMENTS, Funded, at_cells

_NO_CELLS = np.zeros(0, np.intp)
_BUFSIZE = np.getbufsize()  # NumPy's buffer for strided sums (the default unless a user sets it)
_NO_AMOUNTS = np.zeros(0)
_ONE = np.eye(N_INSTRUMENTS, dtype=bool)  # each instrument alone, as a mask


@dataclass
class Cohort:
    """The loans of one maturity slot, cell by cell in SME-then-instrument order."""

    cells: np.ndarray  # flat (SME * N_INSTRUMENTS + instrument), ascending
    sme: np.ndarray
    instrument: np.ndarray
    due: np.ndarray
    principal: np.ndarray
    lender: np.ndarray  # the lender of each cell when it was written


EMPTY = Cohort(_NO_CELLS, _NO_CELLS, _NO_CELLS, _NO_AMOUNTS, _NO_AMOUNTS, _NO_CELLS)


def strided_total(block: np.ndarray) -> float:
    """The sum NumPy gives for an (n, k) block that is a strided slice of a larger array.

    NumPy copies such a block through its buffer (`np.getbufsize()` elements, whole rows),
    sums each buffer pairwise and adds those sums in order; this does the same on a
    contiguous block, so that a sparse book totals exactly as the full array did.
    """
    flat = np.ascontiguousarray(block).ravel()
    return chunked_sum(flat, max(_BUFSIZE // block.shape[1], 1) * block.shape[1])


@compiled
def _write_cohort(sme, instrument, amount, rate, fee_rate, years, fee_row, guar, s, guar_code):
    """A new cohort's amounts due per cell (principal plus interest at the cell's all-in
    `rate`, less the guarantee fee on guaranteed loans, floored at zero), and the slot's
    guarantee fees per SME (`fee_row`) and guaranteed principal (`guar[:, s]`), filled in
    place; as the NumPy expressions they replaced, bit for bit."""
    due = np.empty(len(amount))
    for c in range(len(amount)):
        f, r = amount[c], rate[c]
        interest = f * (r if np.isfinite(r) else 0.0) * years
        if instrument[c] == guar_code:
            i = sme[c]
            interest -= f * fee_rate[i] * years
            guar[i, s] = f
            # (the row is zeros elsewhere, as `_clear_slot` left it: zero x a finite fee rate)
            fee_row[i] = f * fee_rate[i] * years
        due[c] = f + maximum(interest, 0.0)
    return due


@compiled
def _clear_slot(guar, fee_row, sme, instrument, s, guar_code):
    """Zero slot s's guaranteed principal (`guar[:, s]`) and fees, at its guaranteed cells
    (the only places `_write_cohort` writes them)."""
    for c in range(len(sme)):
        if instrument[c] == guar_code:
            guar[sme[c], s] = 0.0
            fee_row[sme[c]] = 0.0


class LoanBook:
    """Amounts due, principal and guarantee fees by (SME, instrument, maturity slot)."""

    def __init__(self, n_smes: int, term: int, lender: np.ndarray) -> None:
        self.n = n_smes
        self.term = term
        self.slots = term + 1
        # (n, I): which lender serves each SME on each instrument; stored instrument-major so
        # that one instrument's column is contiguous
        self.set_lender(lender)
        self.cohorts = [EMPTY] * self.slots
        self._fee = np.zeros((self.slots, n_smes))
        self.fee = self._fee.T  # (n, slots) guarantee fees owed to the guarantor
        self._guar = np.zeros((n_smes, self.slots))  # guaranteed principal by (SME, slot)
        self._guar_total: float | None = None  # its total, until a write or clear

    def set_lender(self, lender: np.ndarray) -> None:
        """Which lender serves new loans, per (SME, instrument); loans written keep theirs."""
        self.lender = np.ascontiguousarray(lender.T).T
        self.cell_lender = lender.ravel().astype(np.intp)  # the same, per flat cell
        self.credit_lender = lender[:, CREDIT].astype(np.intp)  # each SME's credit lender

    def write_slot(self, month: int) -> int:
        return month % self.slots

    def mature_slot(self, month: int) -> int:
        return (month + 1) % self.slots

    def write(self, month: int, funded: Funded, rate: np.ndarray, fee_rate: np.ndarray) -> None:
        """Book this month's loans: interest at `rate` less the guarantor's fee share."""
        s = self.write_slot(month)
        self.clear(s)
        due = _write_cohort(funded.sme, funded.instrument, funded.amount, at_cells(rate, funded),
                            fee_rate, self.term / 12.0, self._fee[s], self._guar, s, GUAR)
        self.cohorts[s] = Cohort(funded.cells, funded.sme, funded.instrument, due,
                                 funded.amount, self.cell_lender[funded.cells])
        self._guar_total = None

    def write_legacy(self, month: int, principal: np.ndarray, rate: np.ndarray) -> None:
        """Book credit-line loans written before the run (month < 0) at annual `rate`."""
        s = self.write_slot(month)
        rows = np.flatnonzero(principal > 0)
        cells = rows * N_INSTRUMENTS + CREDIT
        p = principal[rows]
        due = p * (1 + rate[rows] * self.term / 12.0)
        self.cohorts[s] = Cohort(cells, rows, np.full(len(rows), CREDIT), due, p,
                                 self.cell_lender[cells])

    def principal_due(self, s: int, instruments: np.ndarray) -> np.ndarray:
        """Per SME, the principal of slot s on the instruments where `instruments` is True."""
        c = self.cohorts[s]
        on = instruments[c.instrument]
        return np.bincount(c.sme[on], c.principal[on], minlength=self.n)

    def principal_by_sme(self, instruments: np.ndarray) -> np.ndarray:
        """Per SME, principal outstanding on the instruments where `instruments` is True: each
        slot's `principal_due` added in slot order (compiled, the same sums)."""
        out, scratch = np.zeros(self.n), np.zeros(self.n)
        for c in self.cohorts:
            add_bincount(out, c.sme, c.instrument, c.principal, instruments, scratch)
        return out

    def dues(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every cohort's SMEs and amounts due, concatenated slot by slot, and where each
        slot's cells end (for compiled sums over the book, e.g. each SME's debt)."""
        cs = self.cohorts
        ends = np.cumsum([len(c.sme) for c in cs])
        return (np.concatenate([c.sme for c in cs]), np.concatenate([c.due for c in cs]), ends)

    def clear(self, s: int) -> None:
        """Empty a slot once it has settled."""
        c = self.cohorts[s]
        _clear_slot(self._guar, self._fee[s], c.sme, c.instrument, s, GUAR)
        self._guar_total = None
        self.cohorts[s] = EMPTY

    def due_by_sme(self, s: int) -> np.ndarray:
        """What each SME owes on the loans of slot s (its instruments added in order)."""
        c = self.cohorts[s]
        return np.bincount(c.sme, c.due, minlength=self.n)

    def outstanding(self, instrument: int | None = None) -> np.ndarray:
        """Principal outstanding per SME, on one instrument or on all."""
        if instrument is None:
            return self.principal.sum(axis=(1, 2))
        # slot by slot, as a sum over the slot axis adds them (compiled, the same sums)
        return self.principal_by_sme(_ONE[instrument])

    def guaranteed_outstanding(self) -> float:
        """Total guaranteed principal, added as NumPy adds that column of the full book."""
        if self._guar_total is None:  # (asked several times a month: kept until it changes)
            self._guar_total = strided_total(self._guar)
        return self._guar_total

    def principal_of(self, sme: int) -> np.ndarray:
        """One SME's principal by (instrument, slot)."""
        out = np.zeros((N_INSTRUMENTS, self.slots))
        for s, c in enumerate(self.cohorts):
            lo, hi = np.searchsorted(c.cells, [sme * N_INSTRUMENTS, (sme + 1) * N_INSTRUMENTS])
            out[c.instrument[lo:hi], s] = c.principal[lo:hi]
        return out

    def _full(self, amounts: str) -> np.ndarray:
        out = np.zeros((self.n * N_INSTRUMENTS, self.slots))
        for s, c in enumerate(self.cohorts):
            out[c.cells, s] = getattr(c, amounts)
        return out.reshape(self.n, N_INSTRUMENTS, self.slots)

    @property
    def due(self) -> np.ndarray:
        """Amounts due as a full (SME, instrument, slot) array (a copy, for inspection)."""
        return self._full("due")

    @property
    def principal(self) -> np.ndarray:
        """Principal as a full (SME, instrument, slot) array (a copy, for inspection)."""
        return self._full("principal")
