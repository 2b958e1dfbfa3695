"""The monthly financing market: what each lender offers each SME, and clearing under capacity.

Everything works on whole arrays: an offer is a (SME x instrument) matrix of amounts and all-in
annual rates, and clearing takes, for every SME, its cheapest eligible instrument first, then the
next, with each lender (and the guarantor) rationing its finite room to the safest-looking
applicants first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation import clear_loop
from simulation.kernels import c_exp

INSTRUMENTS: tuple[str, ...] = (
    "confirmed_receivable",  # reverse factoring / bill discounting on a core's confirmation
    "order_financing",  # on shared order data (order-stage, procurement loans)
    "prepayment",  # distributors: bank prepays the core on shared sales data
    "inventory_pledge",  # distributors: loan against pledged stock
    "guaranteed_loan",  # bank loan with a government guarantee
    "credit_loan",  # unsecured bank loan on the bank's own screening
    "unconfirmed_factoring",  # factor buys an unconfirmed receivable with recourse
)
CONF, ORDER, PREPAY, PLEDGE, GUAR, CREDIT, FACTOR = range(len(INSTRUMENTS))
N_INSTRUMENTS = len(INSTRUMENTS)
# Bank loans proper, not receivable purchases: the study's small-business loans
LOAN_MASK = np.isin(np.arange(N_INSTRUMENTS), (ORDER, PREPAY, PLEDGE, GUAR, CREDIT))


@dataclass
class Offers:
    """What each SME could get: amounts, annual all-in rates (inf = not offered), lenders."""

    amount: np.ndarray  # (n, I) float64
    rate: np.ndarray  # (n, I) float64
    lender: np.ndarray  # (n, I) int32: bank index, or n_banks for the factoring sector
    priority: np.ndarray  # (n,) float64: lenders serve lower values first (estimated PD)
    charges: Charges | np.ndarray | None = None  # (n, I) part of `rate` that is fees and
    # application costs
    bidders: np.ndarray | None = None  # the SMEs in need with an offer, ascending, if known


@dataclass
class Charges:
    """The part of each offer's rate that is fees and application costs, per (SME, instrument).

    Indexed like the (n, I) matrix it stands for (`charges[sme, instrument]` with index
    arrays, or `np.asarray(charges)`), from two per-SME columns: the application cost (on
    order finance, pledges and credit loans) and the guarantee fee (plus two applications).
    """

    app_rate: np.ndarray  # (n,) annualised application cost
    fee: np.ndarray  # (n,) guarantee fee

    def __getitem__(self, key: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        sme, instrument = key
        return clear_loop.charges_at(self.app_rate, self.fee, np.asarray(sme),
                                     np.asarray(instrument), _APPLIED, GUAR)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        n = len(self.app_rate)
        sme = np.repeat(np.arange(n), N_INSTRUMENTS)
        full = self[sme, np.tile(np.arange(N_INSTRUMENTS), n)].reshape(n, N_INSTRUMENTS)
        return full if dtype is None else full.astype(dtype)


_APPLIED = np.isin(np.arange(N_INSTRUMENTS), (ORDER, PLEDGE, CREDIT))


@dataclass
class Funded:
    """A month's financing, cell by cell: the (SME, instrument) cells funded, in SME-then-
    instrument order; the cells left out are zeros of the full (n, I) matrix."""

    n: int
    cells: np.ndarray  # flat SME * N_INSTRUMENTS + instrument, ascending
    sme: np.ndarray
    instrument: np.ndarray
    amount: np.ndarray

    @classmethod
    def from_matrix(cls, funded: np.ndarray) -> Funded:
        cells = np.flatnonzero(funded)
        return cls(len(funded), cells, cells // N_INSTRUMENTS, cells % N_INSTRUMENTS,
                   funded.ravel()[cells])

    def column(self, instrument: int) -> np.ndarray:
        """One instrument's amounts for every SME."""
        out = np.zeros(self.n)
        on = self.instrument == instrument
        out[self.sme[on]] = self.amount[on]
        return out

    def dense(self) -> np.ndarray:
        """The full (n, I) matrix."""
        out = np.zeros((self.n, N_INSTRUMENTS))
        out.ravel()[self.cells] = self.amount
        return out


def at_cells(matrix: np.ndarray, funded: Funded) -> np.ndarray:
    """An (n, I) matrix's values at the funded cells."""
    if matrix.flags.c_contiguous:  # (the cells are the flat positions)
        return matrix.ravel()[funded.cells]
    return matrix[funded.sme, funded.instrument]


def info_quality(weights_and_signals: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Combine independent information sources: q = 1 - prod(1 - w_k * x_k)."""
    miss = np.ones_like(weights_and_signals[0][1], dtype=float)
    for w, x in weights_and_signals:
        miss *= 1.0 - w * x
    return 1.0 - miss


def estimate_pd(true_pd: np.ndarray, quality: np.ndarray, sigma0: float,
                z: np.ndarray) -> np.ndarray:
    """A lender's noisy, mean-preserving estimate of annual PD; noise falls with information."""
    s = sigma0 * (1.0 - quality)
    return noisy_pd(true_pd, s, 0.5 * s * s, z)


def noisy_pd(true_pd: np.ndarray, scale: np.ndarray, drift: np.ndarray,
             z: np.ndarray) -> np.ndarray:
    """`estimate_pd` from its noise scale s and drift s^2 / 2, when they are known already."""
    return np.minimum(true_pd * c_exp(scale * z - drift), 1.0)


_COMPILED_SORT_MAX = 256  # up to this many SMEs, a compiled merge sort is the faster


def priority_order(priority: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`idx` (ascending) sorted by priority, ties by index: the order in which lenders serve.

    The same order as a stable sort: up to a few hundred SMEs a compiled merge sort; beyond,
    non-negative priorities (estimated PDs) sort as one integer key each (NumPy's sort of
    integers being the fastest there is here): the float's leading bits (whose order is the
    floats' order) with the position below them, runs that share those bits then put in exact
    order (`clear_loop.order_keys`, `keyed_order`). Anything else: NumPy's stable sort.
    """
    if len(idx) <= _COMPILED_SORT_MAX:
        return clear_loop.stable_order(priority, idx)
    keys, bits = clear_loop.order_keys(priority, idx)
    if len(keys) < len(idx):  # a negative priority, -0.0 or NaN
        return idx[np.argsort(priority[idx], kind="stable")]
    keys.sort()
    return clear_loop.keyed_order(keys, bits, priority, idx)


def _accept(request: np.ndarray, order: np.ndarray, group: np.ndarray | None,
            room: np.ndarray) -> np.ndarray:
    """Serve positive requests in `order` (priority order) within each group's room."""
    accepted = np.zeros_like(request)
    req = request[order]
    live = req > 0
    order, req = order[live], req[live]
    if not len(order):
        return accepted
    if group is None:
        g = np.zeros(len(order), np.intp)
    else:
        g = group[order]
        key = g.astype(np.int16) if g.min() >= 0 and g.max() < 2**15 else g
        by_group = np.argsort(key, kind="stable")  # small keys sort by radix, in linear time
        order, req, g = order[by_group], req[by_group], g[by_group]
    cs = np.cumsum(req)  # running total over the groups in turn; each group starts from its base
    if group is None:
        before = cs - req  # (its base is zero)
    else:
        cut = np.flatnonzero(g[1:] != g[:-1]) + 1
        base = np.repeat(np.concatenate(([0.0], cs[cut - 1])),
                         np.diff(np.concatenate(([0], cut, [len(order)]))))
        before = cs - req - base
    accepted[order] = np.clip(np.maximum(room[g], 0.0) - before, 0.0, req)
    return accepted


def ration(request: np.ndarray, priority: np.ndarray, group: np.ndarray | None,
           room: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Accept requests in priority order within each group until the group's room is used.

    `group` None is one group. `order`, if given, is `priority_order(priority, idx)` for some
    `idx` holding every positive request: computed once, it serves many calls.
    """
    if order is None:
        live = np.flatnonzero(request > 0)
        order = priority_order(priority, live)
    return _accept(request, order, group, room)


def clear(need: np.ndarray, offers: Offers, lender_room: np.ndarray,
          guarantor_room: float) -> np.ndarray:
    """Fill each SME's need from its cheapest offer upwards, within every lender's room.

    Returns the (n, I) matrix of amounts funded. `lender_room` is consumed in place.
    """
    return clear_cells(need, offers, lender_room, guarantor_room).dense()


def clear_cells(need: np.ndarray, offers: Offers, lender_room: np.ndarray,
                guarantor_room: float) -> Funded:
    """`clear`, returning the funded cells only.

    Round r gives each SME still in need its r-th cheapest offer (ties: the lower instrument),
    lenders rationing their room to the safest applicants first. Only SMEs still in need and
    with an offer left take part in a round (the rest would request nothing), held in the
    order lenders serve them, so that rationing needs no sorting by priority. The rounds are
    the compiled loop `clear_loop.clear_rounds`.
    """
    n, n_instr = offers.amount.shape
    rate = np.ascontiguousarray(offers.rate, dtype=float)  # (n, I): an SME's offers together
    amount = np.ascontiguousarray(offers.amount, dtype=float)
    lender = np.ascontiguousarray(offers.lender.T).ravel()
    rows = offers.bidders  # SMEs in round 0
    if rows is None:
        rows = clear_loop.in_need(need, rate)
    order = priority_order(offers.priority, rows)  # the same, safest first
    sme, instrument, amount = clear_loop.clear_rounds(
        np.asarray(need, float), rate, amount, lender, rows, order, lender_room,
        float(guarantor_room), GUAR)
    return Funded(n, sme * n_instr + instrument, sme, instrument, amount)
