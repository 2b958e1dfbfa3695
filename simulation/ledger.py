"""The one ledger through which every transfer of money goes.

Accounts are slots of one float64 array: SMEs, cores, banks, the factoring sector, the guarantor,
the government and the outside world (end market, input suppliers, owners, depositors). Transfers
move money between slots in whole vectors, so the total never changes; `residual` measures the
rounding drift. Only the government and the outside world may hold a negative balance: they are
the rest of the economy, which pays in and out of the modelled system.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from simulation import kernels

_SCALARS = (int, np.integer)
_NUMBERS = (float, int, np.floating, np.integer)


class Ledger:
    """Balances of every account and the total flows by kind of transfer."""

    def __init__(self, n_smes: int, n_cores: int, n_banks: int) -> None:
        self.sme0 = 0
        self.core0 = n_smes
        self.bank0 = n_smes + n_cores
        self.factor = self.bank0 + n_banks
        self.guarantor = self.factor + 1
        self.government = self.factor + 2
        self.outside = self.factor + 3
        self.balance = np.zeros(self.outside + 1)
        self.flows: dict[str, float] = defaultdict(float)
        self._initial_total = 0.0
        self._scratch = np.zeros(self.outside + 1)  # per-account sums of one transfer

    def endow(self, accounts: np.ndarray | int, amounts: np.ndarray | float) -> None:
        """Initial stocks, paid by the outside world so the total stays zero-sum."""
        self.transfer(self.outside, accounts, amounts, "endowment")

    def transfer(self, src: np.ndarray | int, dst: np.ndarray | int,
                 amount: np.ndarray | float, kind: str) -> None:
        """Move `amount` from `src` to `dst` (scalars or aligned vectors); amounts are >= 0.

        Each account moves by the sum of its amounts, added in the order given, so a transfer
        gives the same balances however long the array of accounts is; zero amounts, which
        add nothing, are left out when most amounts are zero.
        """
        if isinstance(src, _SCALARS) and isinstance(dst, _SCALARS) and (
                isinstance(amount, _NUMBERS) or getattr(amount, "ndim", None) == 0):
            self._transfer_one(int(src), int(dst), float(amount), kind)
            return
        amount = np.asarray(amount, dtype=float)
        if amount.size == 0:
            return
        if amount.ndim == 0 and np.ndim(src) == 0 and np.ndim(dst) == 0:
            self._transfer_one(src, dst, float(amount), kind)
            return
        flat = amount.ravel()
        total, negative = kernels.post_transfer(
            self.balance, flat if flat.flags.c_contiguous else flat.copy(),
            np.asarray(src, np.int64).ravel(), np.ndim(src) == 0,
            np.asarray(dst, np.int64).ravel(), np.ndim(dst) == 0, self._scratch)
        if negative:
            raise ValueError(f"negative transfer in {kind}")
        self.flows[kind] += total if amount.flags.c_contiguous else float(amount.sum())

    def _transfer_one(self, src: int, dst: int, a: float, kind: str) -> None:
        """One amount between two accounts (the common case, kept cheap)."""
        if a < 0:
            raise ValueError(f"negative transfer in {kind}")
        self.flows[kind] += a
        self.balance[src] -= a
        self.balance[dst] += a

    def book(self, kinds: tuple[str, ...], flows: np.ndarray, made: np.ndarray,
             failed: int) -> None:
        """Book the flows of the transfers a compiled loop made (`kernels.move`, one per
        kind, in order); raise as `transfer` does if transfer `failed` (>= 0) was refused."""
        for kind, total, was_made in zip(kinds, flows.tolist(), made.tolist(), strict=True):
            if was_made:
                self.flows[kind] += total
        if failed >= 0:
            raise ValueError(f"negative transfer in {kinds[failed]}")

    @property
    def total(self) -> float:
        return float(self.balance.sum())

    @property
    def residual(self) -> float:
        """How far the sum of all accounts has drifted from its start (rounding only)."""
        return self.total - self._initial_total

    def view(self, start: int, stop: int) -> np.ndarray:
        """A writable view of a block of balances (e.g. all SMEs' cash)."""
        return self.balance[start:stop]
