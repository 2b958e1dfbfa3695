"""Supply networks of the four chain types, built from arrays.

A `SupplyNetwork` holds the population's structure as NumPy columns (the model runs on these);
`to_networkx()` gives the same network as a DiGraph (goods flow upstream -> downstream, node
attributes `role` and `tier`, edge attributes `order_volume` in 10k CNY/month and `payment_term`
in months). The `build_*` functions are the pure builders, one per chain type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from simulation.config import ALL_SECTORS, CHAIN_TYPES, SECTORS, ScenarioConfig

# SME roles (also the metric groups) and core kinds.
TIER1, TIER2, DISTRIBUTOR = 0, 1, 2
ROLE_NAMES = ("tier1", "tier2", "distributor")
CORE, MANUFACTURER, END_BUYER, PLATFORM = 0, 1, 2, 3
CORE_KIND_NAMES = ("core", "manufacturer", "end_buyer", "platform")
# Trade edges: who pays the seller.
TO_CORE, TO_SME, TO_MARKET = 0, 1, 2


@dataclass
class SupplyNetwork:
    """Structure of a population: SMEs, cores, and the trade edges that carry orders and money."""

    sme_role: np.ndarray  # int8, TIER1/TIER2/DISTRIBUTOR
    sme_chain: np.ndarray  # int32 chain index
    sme_core: np.ndarray  # int32 the core the SME trades with (its main core)
    sme_sales: np.ndarray  # float64 base monthly sales, 10k CNY
    chain_type: np.ndarray  # int8 index into CHAIN_TYPES
    chain_sector: np.ndarray  # int16 index into ALL_SECTORS
    core_chain: np.ndarray  # int32
    core_kind: np.ndarray  # int8
    core_grade: np.ndarray  # int8 0=A, 1=B, 2=C
    edge_seller: np.ndarray  # int32 SME index
    edge_buyer: np.ndarray  # int32 core index (TO_CORE), SME index (TO_SME), -1 (TO_MARKET)
    edge_kind: np.ndarray  # int8
    edge_weight: np.ndarray  # float64 share of the seller's sales on this edge
    core_links: list[tuple[int, int]] = field(default_factory=list)  # manufacturer -> end buyer

    @property
    def n_smes(self) -> int:
        return len(self.sme_role)

    @property
    def n_cores(self) -> int:
        return len(self.core_kind)

    @property
    def sme_chain_type(self) -> np.ndarray:
        return self.chain_type[self.sme_chain]

    @property
    def sme_sector(self) -> np.ndarray:
        return self.chain_sector[self.sme_chain]

    def to_networkx(self, payment_term: int = 3, cost_share: float = 0.85) -> nx.DiGraph:
        """The network as a DiGraph; SMEs are nodes 0..N-1, cores N..N+C-1."""
        n = self.n_smes
        g = nx.DiGraph()
        tiers = {TIER1: -1, TIER2: -2, DISTRIBUTOR: 1}
        g.add_nodes_from(
            (i, {"role": ROLE_NAMES[r], "tier": tiers[r], "chain": int(c),
                 "chain_type": CHAIN_TYPES[self.chain_type[c]],
                 "sector": ALL_SECTORS[self.chain_sector[c]], "kind": "sme"})
            for i, (r, c) in enumerate(zip(self.sme_role.tolist(), self.sme_chain.tolist(),
                                           strict=True)))
        for j in range(self.n_cores):
            kind = int(self.core_kind[j])
            g.add_node(n + j, role=CORE_KIND_NAMES[kind], tier=1 if kind == END_BUYER else 0,
                       chain=int(self.core_chain[j]), kind="core",
                       chain_type=CHAIN_TYPES[self.chain_type[self.core_chain[j]]],
                       grade="ABC"[self.core_grade[j]])
        vol = self.sme_sales[self.edge_seller] * self.edge_weight
        for s, b, k, v in zip(self.edge_seller.tolist(), self.edge_buyer.tolist(),
                              self.edge_kind.tolist(), vol.tolist(), strict=True):
            if k == TO_CORE:
                g.add_edge(s, n + b, order_volume=v, payment_term=payment_term)
            elif k == TO_SME:
                g.add_edge(s, b, order_volume=v, payment_term=payment_term)
        dist = np.flatnonzero(self.sme_role == DISTRIBUTOR)
        for d in dist.tolist():
            g.add_edge(n + int(self.sme_core[d]), d,
                       order_volume=float(self.sme_sales[d] * cost_share), payment_term=0)
        for a, b in self.core_links:
            g.add_edge(n + a, n + b, order_volume=0.0, payment_term=payment_term)
        return g


def _split(n: int, shares: list[float]) -> list[int]:
    """Integer counts summing to n, by largest remainder."""
    w = np.asarray(shares, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
    raw = w * n
    out = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - out), kind="stable")[: n - out.sum()]:
        out[k] += 1
    return out.tolist()


def _sizes(rng: np.random.Generator, n: int, cfg: ScenarioConfig) -> np.ndarray:
    p = cfg.population
    return p.sales_median * np.exp(p.sales_sigma * rng.standard_normal(n))


def _build(kind: str, n: int, cfg: ScenarioConfig, rng: np.random.Generator) -> SupplyNetwork:
    """One chain type's population of n SMEs (possibly several chains)."""
    ch, pop = cfg.chain, cfg.population
    size = {"core_led": ch.core_led_size, "order_led": ch.order_led_size,
            "dispersed": ch.dispersed_size, "platform": ch.platform_size}[kind]
    n_chains = max(1, int(np.ceil(n / size)))
    chain_n = _split(n, [1.0] * n_chains)
    has_dist = kind in ("core_led", "dispersed")
    has_tier2 = kind != "platform"
    roles, chains, cores, core_kind, core_chain = [], [], [], [], []
    links: list[tuple[int, int]] = []
    for c, m in enumerate(chain_n):
        n_dist = int(round(m * ch.distributor_share)) if has_dist else 0
        n_up = m - n_dist
        n_t2 = min(int(round(n_up * ch.tier2_share)), n_up - 1) if has_tier2 else 0
        n_t1 = n_up - n_t2
        roles.append(np.concatenate([np.full(n_t1, TIER1), np.full(n_t2, TIER2),
                                     np.full(n_dist, DISTRIBUTOR)]).astype(np.int8))
        chains.append(np.full(m, c, np.int32))
        if kind == "order_led":
            j = len(core_kind)
            core_kind += [MANUFACTURER, END_BUYER]
            core_chain += [c, c]
            links.append((j, j + 1))
            cores.append(np.full(m, j, np.int32))
        else:
            j = len(core_kind)
            core_kind.append(PLATFORM if kind == "platform" else CORE)
            core_chain.append(c)
            cores.append(np.full(m, j, np.int32))
    role = np.concatenate(roles)
    chain = np.concatenate(chains)
    core = np.concatenate(cores)
    sales = _sizes(rng, n, cfg)
    sales[role == TIER1] *= pop.tier1_size_multiple

    n_cores = len(core_kind)
    grade = np.zeros(n_cores, np.int8)
    if kind == "dispersed":
        grade = rng.choice(3, size=n_cores, p=np.asarray(ch.dispersed_grade_shares) /
                           sum(ch.dispersed_grade_shares)).astype(np.int8)

    sellers, buyers, kinds, weights = [], [], [], []
    t1 = np.flatnonzero(role == TIER1)
    # tier-1 -> core(s)
    if kind == "dispersed":
        k = rng.integers(1, ch.dispersed_max_cores + 1, size=len(t1))
        rep = np.repeat(t1, k)
        # other cores drawn at random across the whole dispersed population: low clustering
        extra = rng.integers(0, n_cores, size=len(rep))
        first = np.r_[True, rep[1:] != rep[:-1]]
        buyer = np.where(first, core[rep], extra)
        w = rng.gamma(2.0, size=len(rep))
        w = w / np.bincount(rep, w, minlength=n)[rep]
        sellers.append(rep)
        buyers.append(buyer)
        weights.append(w)
        kinds.append(np.full(len(rep), TO_CORE, np.int8))
    else:
        sellers.append(t1)
        buyers.append(core[t1])
        weights.append(np.ones(len(t1)))
        kinds.append(np.full(len(t1), TO_CORE, np.int8))
    # tier-2 -> one tier-1 of the same chain, chosen in proportion to the tier-1's size
    t2 = np.flatnonzero(role == TIER2)
    if len(t2):
        buyer_t2 = np.empty(len(t2), np.int64)
        order = np.argsort(chain[t2], kind="stable")
        t2s = t2[order]
        t1_by_chain = np.split(t1, np.searchsorted(chain[t1], np.arange(1, n_chains)))
        cuts = np.searchsorted(chain[t2s], np.arange(1, n_chains))
        for c, grp in enumerate(np.split(np.arange(len(t2s)), cuts)):
            if not len(grp):
                continue
            cand = t1_by_chain[c]
            p = sales[cand] / sales[cand].sum()
            buyer_t2[order[grp]] = cand[rng.choice(len(cand), size=len(grp), p=p)]
        # tier-2 sales are sized so that a tier-1's inputs from tier 2 match its input share
        draw = sales[t2]
        tot = np.bincount(buyer_t2, draw, minlength=n)[buyer_t2]
        sales[t2] = draw / tot * pop.tier2_input_share * pop.cost_share * sales[buyer_t2]
        sellers.append(t2)
        buyers.append(buyer_t2)
        weights.append(np.ones(len(t2)))
        kinds.append(np.full(len(t2), TO_SME, np.int8))
    dist = np.flatnonzero(role == DISTRIBUTOR)
    if len(dist):
        if kind == "dispersed":
            core[dist] = rng.integers(0, n_cores, size=len(dist))
        sellers.append(dist)
        buyers.append(np.full(len(dist), -1))
        weights.append(np.ones(len(dist)))
        kinds.append(np.full(len(dist), TO_MARKET, np.int8))

    type_idx = CHAIN_TYPES.index(kind)
    sectors = tuple(s for s in SECTORS[kind] if s in ch.sectors) or SECTORS[kind]
    # one uniform per chain whatever the sector list, so restricting sectors shifts no draws
    pick = (rng.random(n_chains) * len(sectors)).astype(int)
    chain_sector = np.array([ALL_SECTORS.index(sectors[i]) for i in pick], np.int16)
    return SupplyNetwork(
        sme_role=role, sme_chain=chain, sme_core=core.astype(np.int32), sme_sales=sales,
        chain_type=np.full(n_chains, type_idx, np.int8), chain_sector=chain_sector,
        core_chain=np.asarray(core_chain, np.int32), core_kind=np.asarray(core_kind, np.int8),
        core_grade=grade, edge_seller=np.concatenate(sellers).astype(np.int32),
        edge_buyer=np.concatenate(buyers).astype(np.int32),
        edge_kind=np.concatenate(kinds).astype(np.int8),
        edge_weight=np.concatenate(weights), core_links=links)


def _concat(parts: list[SupplyNetwork]) -> SupplyNetwork:
    """Join populations, renumbering SMEs, cores and chains."""
    sme_off = np.cumsum([0] + [p.n_smes for p in parts])
    core_off = np.cumsum([0] + [p.n_cores for p in parts])
    chain_off = np.cumsum([0] + [len(p.chain_type) for p in parts])

    def cat(attr: str, off: np.ndarray | None = None) -> np.ndarray:
        arrs = [getattr(p, attr) + (off[i] if off is not None else 0) for i, p in enumerate(parts)]
        return np.concatenate(arrs).astype(getattr(parts[0], attr).dtype)

    buyers = []
    for i, p in enumerate(parts):
        b = p.edge_buyer.astype(np.int64).copy()
        b[p.edge_kind == TO_CORE] += core_off[i]
        b[p.edge_kind == TO_SME] += sme_off[i]
        buyers.append(b)
    links = [(a + core_off[i], b + core_off[i]) for i, p in enumerate(parts)
             for a, b in p.core_links]
    return SupplyNetwork(
        sme_role=cat("sme_role"), sme_chain=cat("sme_chain", chain_off),
        sme_core=cat("sme_core", core_off), sme_sales=cat("sme_sales"),
        chain_type=cat("chain_type"), chain_sector=cat("chain_sector"),
        core_chain=cat("core_chain", chain_off), core_kind=cat("core_kind"),
        core_grade=cat("core_grade"), edge_seller=cat("edge_seller", sme_off),
        edge_buyer=np.concatenate(buyers).astype(np.int32), edge_kind=cat("edge_kind"),
        edge_weight=cat("edge_weight"), core_links=[(int(a), int(b)) for a, b in links])


def build_network(cfg: ScenarioConfig, rng: np.random.Generator) -> SupplyNetwork:
    """The population's network for the configured chain type (or mix of types)."""
    n = cfg.population.n_smes
    if cfg.chain.type != "mixed":
        return _build(cfg.chain.type, n, cfg, rng)
    mix = cfg.chain.mix
    counts = _split(n, [getattr(mix, k) for k in CHAIN_TYPES])
    parts = [_build(k, m, cfg, rng) for k, m in zip(CHAIN_TYPES, counts, strict=True) if m > 0]
    return _concat(parts)


def _builder(kind: str):
    def build(cfg: ScenarioConfig, rng: np.random.Generator) -> nx.DiGraph:
        net = _build(kind, cfg.population.n_smes, cfg, rng)
        return net.to_networkx(cfg.payment.term_months, cfg.population.cost_share)

    build.__name__ = f"build_{kind}"
    build.__doc__ = f"A {kind} population as a networkx DiGraph (see SupplyNetwork)."
    return build


build_core_led = _builder("core_led")
build_order_led = _builder("order_led")
build_dispersed = _builder("dispersed")
build_platform = _builder("platform")
