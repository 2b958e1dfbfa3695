"""Each SME's financing need for the month, in one compiled pass (numba).

What an SME owes at this month's settlement (loans and guarantee fees falling due, late payments
it owes, what it owes other SMEs), less what it is owed (receivables and bills due in), is a
reserve; the need is the order outlay plus that reserve beyond cash in hand. Every sum adds in the
order of the NumPy version it replaced (per-SME sums as `np.bincount`, the terms of what is owed
left to right; `np.maximum` keeps its first argument on ties), so needs and reserves are its
numbers bit for bit (tests/simulation/test_kernels.py).
"""

from __future__ import annotations

import numpy as np

from simulation.kernels import compiled, maximum


@compiled
def needs(outlay, cash, alive, due_sme, due, fee, pay_out, edge_seller, edge_buyer, to_sme,
          recv, bills):
    """(need, reserve) per SME. `due_sme`, `due`: the maturing cohort's cells; `fee`,
    `pay_out`: this slot's guarantee fees and late payments owed, per SME; `recv`, `bills`:
    what falls due on each trade edge this month."""
    n = len(outlay)
    loans_due = np.zeros(n)
    for c in range(len(due)):
        loans_due[due_sme[c]] += due[c]
    owed_smes = np.zeros(n)
    for e in to_sme:
        owed_smes[edge_buyer[e]] += recv[e]
    due_in = np.zeros(n)
    for e in range(len(edge_seller)):
        due_in[edge_seller[e]] += recv[e] + bills[e]
    need = np.empty(n)
    reserve = np.empty(n)
    for i in range(n):
        owed = loans_due[i] + fee[i] + pay_out[i] + owed_smes[i]
        reserve[i] = maximum(owed - due_in[i], 0.0)
        need[i] = maximum(outlay[i] + reserve[i] - cash[i], 0.0) * (1.0 if alive[i] else 0.0)
    return need, reserve
