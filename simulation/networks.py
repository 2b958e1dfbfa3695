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
from simulation.kernels import c_exp, compiled, numpy_sum

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
    out[np.argsort(-(raw - out), kind="stable")[: n - out.sum()]] += 1
    return out.tolist()


def _sizes(rng: np.random.Generator, n: int, cfg: ScenarioConfig) -> np.ndarray:
    p = cfg.population
    return p.sales_median * c_exp(p.sales_sigma * rng.standard_normal(n))


def _build(kind: str, n: int, cfg: ScenarioConfig, rng: np.random.Generator) -> SupplyNetwork:
    """One chain type's population of n SMEs (possibly several chains)."""
    ch, pop = cfg.chain, cfg.population
    size = {"core_led": ch.core_led_size, "order_led": ch.order_led_size,
            "dispersed": ch.dispersed_size, "platform": ch.platform_size}[kind]
    n_chains = max(1, int(np.ceil(n / size)))
    m = np.array(_split(n, [1.0] * n_chains), np.int64)  # SMEs per chain
    has_dist = kind in ("core_led", "dispersed")
    has_tier2 = kind != "platform"
    n_dist = np.round(m * ch.distributor_share).astype(np.int64) if has_dist else np.zeros_like(m)
    n_up = m - n_dist
    n_t2 = (np.minimum(np.round(n_up * ch.tier2_share).astype(np.int64), n_up - 1)
            if has_tier2 else np.zeros_like(m))
    # each chain's tier-1s, then its tier-2s, then its distributors
    counts = np.column_stack((n_up - n_t2, n_t2, n_dist)).ravel()
    role = np.repeat(np.tile(np.array([TIER1, TIER2, DISTRIBUTOR], np.int8), n_chains), counts)
    chain = np.repeat(np.arange(n_chains, dtype=np.int32), m)
    cores_per_chain = 2 if kind == "order_led" else 1  # order-led: manufacturer, end buyer
    core = np.repeat(np.arange(n_chains, dtype=np.int32) * cores_per_chain, m)
    if kind == "order_led":
        core_kind = [MANUFACTURER, END_BUYER] * n_chains
        links = [(2 * c, 2 * c + 1) for c in range(n_chains)]
    else:
        core_kind = [PLATFORM if kind == "platform" else CORE] * n_chains
        links = []
    core_chain = np.repeat(np.arange(n_chains), cores_per_chain).tolist()
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
        # (t2 and t1 are in chain order; each chain's choice as `rng.choice` with
        # probabilities makes it: its uniforms drawn in turn, i.e. all of them at once)
        t1_start = np.searchsorted(chain[t1], np.arange(n_chains + 1))
        buyer_t2 = choose_in_chains(sales, t1, t1_start, chain[t2], rng.random(len(t2)))
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


@compiled
def choose_in_chains(sales, t1, t1_start, t2_chain, u):
    """Each tier-2 supplier's buyer: a tier-1 of its chain (`t1[t1_start[c]:t1_start[c + 1]]`)
    chosen with probability in proportion to size, from its uniform draw `u`, as
    `Generator.choice(k, p=sizes / sizes.sum())` chooses (the probabilities' cumulative sum
    normalised by its last value, searched on the right), chain by chain, bit for bit."""
    out = np.empty(len(u), np.int64)
    cdf = np.empty(len(t1))
    chain = -1
    k = 0
    for q in range(len(u)):
        c = t2_chain[q]
        if c != chain:
            chain = c
            lo, k = t1_start[c], t1_start[c + 1] - t1_start[c]
            size = np.empty(k)
            for j in range(k):
                size[j] = sales[t1[lo + j]]
            total = numpy_sum(size)
            for j in range(k):
                p = size[j] / total
                cdf[j] = p if j == 0 else cdf[j - 1] + p
            last = cdf[k - 1]
            for j in range(k):
                cdf[j] = cdf[j] / last
        # searchsorted(side="right"): how many of the cdf's values are <= u
        a, b = 0, k
        while a < b:
            mid = (a + b) // 2
            if cdf[mid] <= u[q]:
                a = mid + 1
            else:
                b = mid
        out[q] = t1[t1_start[c] + a]
    return out


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
