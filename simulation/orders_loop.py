"""The month's exogenous failures and orders in compiled passes (numba): firms failing, demand
shocks, sales, inputs and outlays.

Each value is the NumPy expression it replaced, operation for operation (the chain shock's AR(1)
step, the log-normal demand level, sales of live firms, tier-1 inputs bought from tier 2 added
per buyer in edge order as `np.bincount` adds them, the outlay floored as `np.maximum` floors),
so orders are the NumPy ones bit for bit (tests/simulation/test_kernels.py).
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, maximum, move

FAILURE_KINDS = ("failure",)


@compiled
def orders(chain_shock, persistence, innovation, z_chain, idio_sigma, z_sme, demand_level,
           drift, sme_chain, sme_sales, alive, edge_seller, edge_buyer, to_sme, cost_share):
    """(new chain shocks, sales, inputs, outlay): the chain shock moves as
    persistence x shock + innovation x z; each SME's sales are its size times the demand level
    demand_level x exp(chain shock + idio_sigma x z - drift) while it is alive; inputs are what
    it buys from tier 2; the outlay is the cost share of sales beyond inputs, floored at zero."""
    shock = np.empty(len(chain_shock))
    for c in range(len(chain_shock)):
        shock[c] = persistence * chain_shock[c] + innovation * z_chain[c]
    n = len(sme_sales)
    sales = np.empty(n)
    for i in range(n):
        eps = idio_sigma * z_sme[i]
        level = demand_level * np.exp(shock[sme_chain[i]] + eps - drift)
        sales[i] = sme_sales[i] * level * (1.0 if alive[i] else 0.0)
    inputs = np.zeros(n)
    for e in to_sme:
        inputs[edge_buyer[e]] += sales[edge_seller[e]]
    outlay = np.empty(n)
    for i in range(n):
        outlay[i] = maximum(cost_share * sales[i] - inputs[i], 0.0)
    return shock, sales, inputs, outlay


@compiled
def failures(balance, scratch, u, pd_month, alive, outside):
    """Live SMEs whose draw `u` falls below their monthly PD fail: their cash (floored at zero,
    as `np.maximum`) goes to the outside world in one transfer and they are no longer alive.
    Returns (who failed, flows by FAILURE_KINDS, whether made, the failing transfer or -1)."""
    n = len(u)
    fail = np.zeros(n, np.bool_)
    k = 0
    for i in range(n):
        if alive[i] and u[i] < pd_month[i]:
            fail[i] = True
            k += 1
    idx = np.empty(k, np.int64)
    cash = np.empty(k)
    k = 0
    for i in range(n):
        if fail[i]:
            idx[k], cash[k] = i, maximum(balance[i], 0.0)
            k += 1
    flows = np.zeros(len(FAILURE_KINDS))
    made = np.zeros(len(FAILURE_KINDS), np.bool_)
    one = np.empty(1, np.int64)
    one[0] = outside
    if not move(balance, scratch, flows, made, 0, cash, idx, False, one, True):
        return fail, flows, made, 0
    for i in range(n):
        if fail[i]:
            alive[i] = False
    return fail, flows, made, -1
