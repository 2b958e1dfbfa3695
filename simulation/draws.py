"""The month's random draws, all at once at the start of the month.

Every draw a month takes is fixed before the month starts: its stream, its kind and its size
never depend on the model's state (common random numbers: the same draws whatever the policy).
Large months are drawn in one compiled loop: numba's port of NumPy's generators gives the same
numbers as NumPy's `random(size)` and `standard_normal(size)` (tests/simulation/test_draws.py)
in about half the time (NumPy's normals take 8.5 ns each here, the port's about 4). Handing
the five generators to the compiled loop costs about 35 us, so small months keep NumPy's calls.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simulation.kernels import compiled

# draws in a month from which the compiled loop is used (measured: both take about 65 us for
# the 13,000 draws of 2,500 SMEs; NumPy 27 against 46 us at 1,000, 259 against 136 at 10,000)
COMPILED_FROM = 13_000


class Month(NamedTuple):
    """One month's draws, in the order the month uses them."""

    failure: np.ndarray  # uniform, per SME: exogenous failure
    z_chain: np.ndarray  # standard normal, per chain: demand shock
    z_sme: np.ndarray  # standard normal, per SME: idiosyncratic demand
    confirm: np.ndarray  # uniform, per trade edge: the core's confirmation
    screening: np.ndarray  # standard normal, per SME: lenders' noisy PD estimates
    late: np.ndarray  # uniform, per trade edge: late payment


@compiled
def _uniforms(gen, k):
    """k values of `gen.random()`, in the order NumPy's `gen.random(k)` gives them."""
    out = np.empty(k)
    for i in range(k):
        out[i] = gen.random()
    return out


@compiled
def _normals(gen, k):
    """k values of `gen.standard_normal()`, as NumPy's `gen.standard_normal(k)` gives them."""
    out = np.empty(k)
    for i in range(k):
        out[i] = gen.standard_normal()
    return out


@compiled
def _fill(failure, demand, confirm, screening, late, n, chains, edges):
    """The month's arrays, each generator's values in the order NumPy's `random(size)` and
    `standard_normal(size)` give them (numba's port of NumPy's algorithms, the same numbers:
    tests/simulation/test_draws.py), in one call without the GIL."""
    z_chain = _normals(demand, chains)  # (demand's draws: the chains', then the SMEs')
    return (_uniforms(failure, n), z_chain, _normals(demand, n), _uniforms(confirm, edges),
            _normals(screening, n), _uniforms(late, edges))


def draw_month(streams: dict[str, np.random.Generator], n: int, chains: int,
               edges: int) -> Month:
    """The month's draws from `streams`, each stream's in the order the step takes them."""
    if 3 * n + chains + 2 * edges < COMPILED_FROM:  # (the same numbers either way)
        return draw_month_numpy(streams, n, chains, edges)
    return Month(*_fill(streams["failure"], streams["demand"], streams["confirm"],
                        streams["screening"], streams["late"], n, chains, edges))


def draw_month_numpy(streams: dict[str, np.random.Generator], n: int, chains: int,
                     edges: int) -> Month:
    """`draw_month` by NumPy's own calls (the reference it is tested against)."""
    demand = streams["demand"]
    z_chain = demand.standard_normal(chains)
    return Month(
        failure=streams["failure"].random(n),
        z_chain=z_chain,
        z_sme=demand.standard_normal(n),
        confirm=streams["confirm"].random(edges),
        screening=streams["screening"].standard_normal(n),
        late=streams["late"].random(edges),
    )
