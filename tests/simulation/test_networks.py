"""Graph invariants of each chain type."""

import networkx as nx
import numpy as np
import pytest

from simulation.config import ScenarioConfig
from simulation.networks import (
    build_core_led,
    build_dispersed,
    build_network,
    build_order_led,
    build_platform,
)
from simulation.scenario import with_overrides


def cfg(kind, n=400):
    return with_overrides(ScenarioConfig(), {"chain.type": kind, "population.n_smes": n})


def roles(g):
    return {d["role"] for _, d in g.nodes(data=True)}


def test_core_led_is_n_plus_1_plus_n():
    g = build_core_led(cfg("core_led"), np.random.default_rng(0))
    assert nx.is_directed_acyclic_graph(g)
    assert roles(g) == {"tier2", "tier1", "core", "distributor"}
    for u, v, d in g.edges(data=True):
        ru, rv = g.nodes[u]["role"], g.nodes[v]["role"]
        assert (ru, rv) in {("tier2", "tier1"), ("tier1", "core"), ("core", "distributor")}
        assert g.nodes[u]["tier"] < g.nodes[v]["tier"]  # goods flow upstream -> downstream
        assert d["order_volume"] > 0 and "payment_term" in d
    cores = [n for n, d in g.nodes(data=True) if d["role"] == "core"]
    assert len(cores) == 2  # 400 SMEs at 200 per core
    for n, d in g.nodes(data=True):
        if d["role"] == "tier1":
            assert g.out_degree(n) == 1


def test_order_led_has_end_buyer_and_no_distributors():
    g = build_order_led(cfg("order_led"), np.random.default_rng(0))
    assert roles(g) == {"tier2", "tier1", "manufacturer", "end_buyer"}
    buyers = [n for n, d in g.nodes(data=True) if d["role"] == "end_buyer"]
    for b in buyers:
        (m,) = g.predecessors(b)
        assert g.nodes[m]["role"] == "manufacturer" and g.out_degree(b) == 0


def test_dispersed_has_many_graded_cores_and_low_clustering():
    c = cfg("dispersed", 800)
    g = build_dispersed(c, np.random.default_rng(0))
    cores = [n for n, d in g.nodes(data=True) if d["kind"] == "core"]
    assert len(cores) == 20
    assert {g.nodes[n]["grade"] for n in cores} == {"A", "B", "C"}
    t1 = [n for n, d in g.nodes(data=True) if d["role"] == "tier1"]
    multi = sum(1 for n in t1 if g.out_degree(n) > 1)
    assert multi > len(t1) / 3  # SMEs supply several cores
    assert nx.average_clustering(g.to_undirected()) < 0.1
    core_led = build_core_led(cfg("core_led", 800), np.random.default_rng(0))
    assert len(cores) >= 5 * sum(1 for _, d in core_led.nodes(data=True) if d["kind"] == "core")


def test_platform_has_no_downstream():
    g = build_platform(cfg("platform"), np.random.default_rng(0))
    assert roles(g) == {"tier1", "platform"}
    (p,) = [n for n, d in g.nodes(data=True) if d["role"] == "platform"]
    assert g.out_degree(p) == 0 and g.in_degree(p) == 400


def test_mixed_population_uses_all_chain_types_in_proportion():
    net = build_network(cfg("mixed", 1400), np.random.default_rng(0))
    assert net.n_smes == 1400
    counts = np.bincount(net.sme_chain_type, minlength=4)
    assert counts.tolist() == [800, 200, 300, 100]  # weights 8:2:3:1
    assert net.edge_seller.max() < 1400


@pytest.mark.parametrize("kind", ["core_led", "order_led", "dispersed", "platform", "mixed"])
def test_same_seed_same_network(kind):
    a = build_network(cfg(kind), np.random.default_rng(5))
    b = build_network(cfg(kind), np.random.default_rng(5))
    assert np.array_equal(a.sme_sales, b.sme_sales)
    assert np.array_equal(a.edge_buyer, b.edge_buyer)
    w = np.bincount(a.edge_seller, a.edge_weight, minlength=a.n_smes)
    assert np.allclose(w, 1.0)  # each SME's sales are split fully over its buyers


# Digests of networks built by the per-chain loops this module had before 30 Nov 2026 (networks.py
# at 0eb8239): laying out chains in whole arrays and choosing tier-2 buyers in one compiled pass
# must build the same networks bit for bit (same draws, same arrays, same dtypes).
_OLD_DIGESTS = [
    ('baselines/shanghai', 3000, 1, {}, '1103a8098b6daac7'),
    ('baselines/shanghai', 20000, 2, {}, '0b4634fd7490b2a7'),
    ('baselines/core_led', 1000, 3, {}, '904498ae4bb08869'),
    ('baselines/order_led', 777, 4, {}, '82626dfadb15e89b'),
    ('baselines/dispersed', 2500, 5, {}, '353a482751a6fa8d'),
    ('baselines/platform', 4100, 6, {}, '79ba46f663ceab05'),
    ('baselines/core_led', 50, 7, {}, 'bb1268b1661fc1c3'),
    ('baselines/core_led', 999, 8, {'chain.tier2_share': 0.0, 'chain.distributor_share': 0.0},
     '62c1df8e566b1edd'),
    ('baselines/dispersed', 1234, 9, {'chain.dispersed_size': 5, 'chain.tier2_share': 0.9},
     'cefd8be84023500c'),
    ('baselines/order_led', 10, 10, {}, 'f5ec7622c75b9222'),
    ('baselines/shanghai', 13, 11, {}, 'aa78e29d158cc118'),
]


def _digest(net) -> str:
    import hashlib
    from dataclasses import fields

    h = hashlib.sha256()
    for f in fields(net):
        v = getattr(net, f.name)
        if isinstance(v, np.ndarray):
            h.update(f.name.encode())
            h.update(str(v.dtype).encode())
            h.update(np.ascontiguousarray(v).tobytes())
        else:
            h.update(repr(v).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("scenario", "n", "seed", "overrides", "digest"), _OLD_DIGESTS)
def test_networks_are_those_the_per_chain_loops_built(scenario, n, seed, overrides, digest):
    from simulation.model import random_streams
    from simulation.networks import build_network
    from simulation.scenario import load_scenario

    cfg = load_scenario(scenario, {"population.n_smes": n, **overrides})
    assert _digest(build_network(cfg, random_streams(seed)["network"])) == digest
