"""The tier layout: tiers left to right, chains as bands, every node placed, cheap."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dashboards.layout import edge_segments, tier_layout
from simulation.config import ScenarioConfig
from simulation.networks import build_network


def _graph(kind: str, n: int = 600) -> nx.DiGraph:
    cfg = ScenarioConfig.model_validate({"chain": {"type": kind}, "population": {"n_smes": n}})
    net = build_network(cfg, np.random.default_rng(1))
    return net.to_networkx()


@pytest.mark.parametrize("kind", ["core_led", "order_led", "dispersed", "platform", "mixed"])
def test_every_node_sits_in_its_tier_column_inside_the_unit_band(kind):
    g = _graph(kind)
    pos = tier_layout(g)
    assert set(pos) == set(g.nodes)
    for node, (x, y) in pos.items():
        assert abs(x - g.nodes[node]["tier"]) <= 0.2 + 1e-9
        assert 0.0 <= y <= 1.0


def test_chains_occupy_disjoint_bands():
    g = _graph("dispersed", 400)
    pos = tier_layout(g)
    bands: dict[int, list[float]] = {}
    for node, (_, y) in pos.items():
        bands.setdefault(g.nodes[node]["chain"], []).append(y)
    spans = sorted((min(v), max(v)) for v in bands.values())
    for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
        assert hi < lo


def test_suppliers_sit_near_their_buyer():
    """Tier-2 suppliers are ordered by their tier-1 buyer: edges are much shorter than random."""
    g = _graph("core_led", 1000)
    pos = tier_layout(g)
    t2 = [n for n, d in g.nodes(data=True) if d.get("tier") == -2]
    dy = [abs(pos[n][1] - pos[next(iter(g.successors(n)))][1]) for n in t2]
    ys = np.array([pos[n][1] for n in t2])
    shuffled = np.random.default_rng(0).permutation(ys)
    rand = [abs(a - pos[next(iter(g.successors(n)))][1]) for a, n in zip(shuffled, t2, strict=True)]
    assert np.mean(dy) < 0.5 * np.mean(rand)


def test_layout_handles_ten_thousand_smes():
    """Scale is covered here by size only; its speed is measured in benchmarks/dashboard.py."""
    g = _graph("core_led", 10_000)
    pos = tier_layout(g)
    assert len(pos) == g.number_of_nodes()


def test_edge_segments_are_one_polyline_and_can_be_thinned():
    g = _graph("core_led", 200)
    pos = tier_layout(g)
    xs, ys = edge_segments(g, pos)
    assert len(xs) == len(ys) == 3 * g.number_of_edges()
    assert xs[2::3] == [None] * g.number_of_edges()
    xs, _ = edge_segments(g, pos, max_edges=10)
    assert len(xs) == 30


def test_empty_graph():
    assert tier_layout(nx.DiGraph()) == {}
