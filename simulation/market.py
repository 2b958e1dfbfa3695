"""The monthly financing market: what each lender offers each SME, and clearing under capacity.

Everything works on whole arrays: an offer is a (SME x instrument) matrix of amounts and all-in
annual rates, and clearing takes, for every SME, its cheapest eligible instrument first, then the
next, with each lender (and the guarantor) rationing its finite room to the safest-looking
applicants first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass
class Offers:
    """What each SME could get: amounts, annual all-in rates (inf = not offered), lenders."""

    amount: np.ndarray  # (n, I) float64
    rate: np.ndarray  # (n, I) float64
    lender: np.ndarray  # (n, I) int32: bank index, or n_banks for the factoring sector
    priority: np.ndarray  # (n,) float64: lenders serve lower values first (estimated PD)
    charges: np.ndarray | None = None  # (n, I) part of `rate` that is fees and application costs


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
    return np.minimum(true_pd * np.exp(s * z - 0.5 * s * s), 1.0)


def ration(request: np.ndarray, priority: np.ndarray, group: np.ndarray,
            room: np.ndarray) -> np.ndarray:
    """Accept requests in priority order within each group until the group's room is used."""
    accepted = np.zeros_like(request)
    live = np.flatnonzero(request > 0)
    if not len(live):
        return accepted
    order = live[np.lexsort((live, priority[live], group[live]))]
    g = group[order]
    cs = np.cumsum(request[order])
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    base = np.repeat(np.r_[0.0, cs[starts[1:] - 1]], np.diff(np.r_[starts, len(order)]))
    before = cs - request[order] - base
    accepted[order] = np.clip(np.maximum(room[g], 0.0) - before, 0.0, request[order])
    return accepted


def clear(need: np.ndarray, offers: Offers, lender_room: np.ndarray,
          guarantor_room: float) -> np.ndarray:
    """Fill each SME's need from its cheapest offer upwards, within every lender's room.

    Returns the (n, I) matrix of amounts funded. `lender_room` is consumed in place.
    """
    n, n_instr = offers.amount.shape
    funded = np.zeros((n, n_instr))
    remaining = need.astype(float).copy()
    rank = np.argsort(offers.rate, axis=1, kind="stable")
    rows = np.arange(n)
    g_room = np.array([guarantor_room])
    no_group = np.zeros(n, np.int64)
    for r in range(n_instr):
        k = rank[:, r]
        rate = offers.rate[rows, k]
        req = np.where(np.isfinite(rate) & (remaining > 1e-9),
                       np.minimum(remaining, offers.amount[rows, k]), 0.0)
        req = np.maximum(req, 0.0)
        if not req.any():
            continue
        is_g = k == GUAR
        if is_g.any():
            req_g = np.where(is_g, req, 0.0)
            ok_g = ration(req_g, offers.priority, no_group, g_room)
            req = np.where(is_g, ok_g, req)
        lender = offers.lender[rows, k]
        acc = ration(req, offers.priority, lender, lender_room)
        lender_room -= np.bincount(lender, acc, minlength=len(lender_room))
        g_room -= acc[is_g].sum()
        funded[rows, k] += acc
        remaining -= acc
    return funded
