"""The month's draws: the compiled loop gives NumPy's numbers, and the month draws the same
whichever path it takes."""

import numpy as np
import pytest

from simulation import draws
from simulation.model import SCFModel, random_streams
from simulation.scenario import load_scenario


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_compiled_draws_are_numpys_bit_for_bit(seed):
    """Large months (compiled) and small (NumPy's calls) give every stream's NumPy values,
    normals' rare tail draws included (a million normals hold a few hundred beyond 3.44)."""
    fast, plain = random_streams(seed), random_streams(seed)
    for n, chains, edges in [(400_000, 3_000, 450_000), (20_000, 150, 22_000), (300, 4, 330)]:
        got = draws.draw_month(fast, n, chains, edges)
        want = draws.draw_month_numpy(plain, n, chains, edges)
        for name, a, b in zip(draws.Month._fields, got, want, strict=True):
            assert a.shape == b.shape and _bits(a) == _bits(b), (n, name)
    # the generators are left in the same state: the next month goes on from the same place
    for name in ("failure", "demand", "confirm", "screening", "late"):
        assert fast[name].random() == plain[name].random()


def test_a_run_is_the_same_with_numpys_draws(monkeypatch):
    """A run of 3,000 SMEs (compiled draws) equals the same run drawing through NumPy."""
    cfg = load_scenario("baselines/shanghai", {"population.n_smes": 3000})

    def run() -> tuple[dict, bytes]:
        m = SCFModel(cfg, seed=5)
        for _ in range(8):
            m.step()
        return m.recorder.summary(), _bits(m.ledger.balance)

    fast = run()
    m = SCFModel(cfg, seed=5)
    assert 3 * m.n + 2 * len(m.net.edge_seller) >= draws.COMPILED_FROM  # (the compiled path)
    monkeypatch.setattr(draws, "draw_month", draws.draw_month_numpy)
    monkeypatch.setattr("simulation.model.draw_month", draws.draw_month_numpy)
    assert run() == fast
