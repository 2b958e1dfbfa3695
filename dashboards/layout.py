"""A supply-chain layout: tiers left to right, chains as horizontal bands.

Mesa's default network layout is a spring layout (seconds at 1,000 nodes, most of a minute at
5,000) and hides what matters here: who sells to whom along the chain. This layout is O(N log N)
and reads like the study's "N+1+N" picture: tier-2 suppliers, tier-1 suppliers, the core (or
manufacturer, platform), then distributors or the end buyer. Each chain gets a band whose height is
proportional to its largest column; within a band, suppliers are ordered by their buyer so that
trade edges stay short.

Nodes carry the attributes of `simulation.networks.SupplyNetwork.to_networkx`: `tier` (-2 tier-2,
-1 tier-1, 0 core, 1 distributor or end buyer), `kind` (`sme` or `core`), `chain`.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

Pos = dict[int, tuple[float, float]]
# A crowded column is spread over a few side-by-side lanes so that its dots do not overlap.
LANE_NODES = 40  # nodes per lane before another lane opens
MAX_LANES = 5
LANE_WIDTH = 0.4  # total width of the lanes, in tier units (tiers are 1 apart)


def tier_layout(g: nx.DiGraph, gap: float = 0.02) -> Pos:
    """Positions {node: (x, y)}: x within 0.2 of the tier, y in [0, 1], chains as bands."""
    if g.number_of_nodes() == 0:
        return {}
    columns: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for node, data in g.nodes(data=True):
        columns[int(data.get("chain", 0))][int(data.get("tier", 0))].append(node)
    chains = sorted(columns)
    height = {c: max(len(nodes) for nodes in columns[c].values()) for c in chains}
    total = sum(height.values())
    usable = 1.0 - gap * (len(chains) - 1) if len(chains) > 1 else 1.0
    usable = max(usable, 0.5)
    pos: Pos = {}
    top = 1.0
    for c in chains:
        band = usable * height[c] / total
        _place_chain(g, columns[c], top, top - band, pos)
        top -= band + (gap if len(chains) > 1 else 0.0)
    return pos


def _place_chain(
    g: nx.DiGraph, cols: dict[int, list[int]], top: float, bottom: float, pos: Pos
) -> None:
    """Place one chain's columns inside [bottom, top], inner tiers first so outer ones follow."""
    order = sorted(cols, key=lambda tier: (abs(tier), tier))  # 0, -1, 1, -2
    for tier in order:
        nodes = cols[tier]
        if tier != 0:
            nodes = sorted(nodes, key=lambda n, t=tier: (_anchor(g, n, t, pos), n))
        else:
            nodes = sorted(nodes)
        k = len(nodes)
        lanes = min(MAX_LANES, -(-k // LANE_NODES)) if tier != 0 else 1
        for i, n in enumerate(nodes):
            y = top - (top - bottom) * (i + 0.5) / k
            dx = ((i % lanes) - (lanes - 1) / 2) * LANE_WIDTH / max(lanes - 1, 1)
            pos[n] = (float(tier) + dx, y)


def _anchor(g: nx.DiGraph, node: int, tier: int, pos: Pos) -> float:
    """Sort key: minus the mean height of already placed trade partners nearer the core."""
    near = list(g.successors(node)) if tier < 0 else list(g.predecessors(node))
    ys = [pos[n][1] for n in near if n in pos]
    return -sum(ys) / len(ys) if ys else 0.0


def edge_segments(
    g: nx.DiGraph, pos: Pos, max_edges: int | None = None
) -> tuple[list[float | None], list[float | None]]:
    """Edge coordinates as one polyline with None breaks (a single plotly trace)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    edges = list(g.edges())
    if max_edges is not None and len(edges) > max_edges:
        stride = len(edges) / max_edges
        edges = [edges[int(i * stride)] for i in range(max_edges)]
    for a, b in edges:
        if a in pos and b in pos:
            xs += [pos[a][0], pos[b][0], None]
            ys += [pos[a][1], pos[b][1], None]
    return xs, ys
