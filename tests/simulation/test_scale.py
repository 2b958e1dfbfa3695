"""Scale tricks must not change results: the fast paths give what the plain paths give."""

import json

import mesa
import numpy as np
import pandas as pd
from mesa.experimental.mesa_signals import ModelSignals

from simulation import market as mk
from simulation import offers
from simulation.agents import SME, Bank, ColumnView, CoreFirm
from simulation.loans import strided_total
from simulation.market import GUAR, N_INSTRUMENTS
from simulation.model import SCFModel
from simulation.scenario import load_scenario


def _agents(model):
    return [
        (type(a), a.unique_id, {k: v for k, v in vars(a).items() if k != "model"})
        for a in model.agents
    ]


def test_bulk_agent_creation_matches_mesas_own_path():
    plain, bulk = mesa.Model(rng=1), mesa.Model(rng=1)
    CoreFirm.create_agents(plain, 3, [0, 1, 2])
    SME.create_agents(plain, 5, list(range(5)))
    CoreFirm.create_views(bulk, 3)
    SME.create_views(bulk, 5)
    assert _agents(bulk) == _agents(plain)
    assert all(a.model is bulk for a in bulk.agents)
    assert bulk.agent_id_counter == plain.agent_id_counter
    for cls in (SME, CoreFirm):
        assert [a.unique_id for a in bulk.agents_by_type[cls]] == [
            a.unique_id for a in plain.agents_by_type[cls]
        ]
    extra = SME(bulk, 5)  # the usual path still works after a bulk creation
    assert extra.unique_id == 9 and extra in bulk.agents_by_type[SME]


def test_bulk_agent_creation_still_tells_listeners():
    model = mesa.Model(rng=1)
    seen = []

    def listener(message):
        seen.append(message)

    model.observe("agents", ModelSignals.AGENT_ADDED, listener)
    SME.create_views(model, 4)
    assert len(seen) == 4 and len(model.agents_by_type[SME]) == 4


def test_views_made_on_first_look_match_mesas_own_registration(monkeypatch):
    """A model's SME and core agents, made when first looked at, are the agents (types, ids,
    attributes, order in `model.agents` and in each `agents_by_type` set, the types' order)
    that Mesa's one-by-one registration makes at set-up; an agent registered in between
    keeps its place by id."""
    cfg = load_scenario("baselines/shanghai", {"population.n_smes": 300})
    lazy = SCFModel(cfg, seed=1)
    assert lazy._pending_views  # nothing made yet
    extra = Bank(lazy, 99, 1.0)  # registered before the views are made
    with monkeypatch.context() as m:
        m.setattr(ColumnView, "listened", classmethod(lambda cls, model: True))
        eager = SCFModel(cfg, seed=1)  # Mesa's create_agents, one by one
    assert not eager._pending_views
    Bank(eager, 99, 1.0)
    def seen(model):
        return [(type(a), a.unique_id, a.pos, getattr(a, "index", None), sorted(vars(a)))
                for a in model.agents]

    assert seen(lazy) == seen(eager)
    assert list(lazy.agents)[-1] is extra
    assert list(lazy.agents_by_type) == list(eager.agents_by_type) == lazy.agent_types
    for cls in lazy.agent_types:
        assert [a.unique_id for a in lazy.agents_by_type[cls]] == [
            a.unique_id for a in eager.agents_by_type[cls]]
    assert lazy.agents_by_type[SME].to_list()[7].index == 7
    fresh = SCFModel(cfg, seed=1)
    fresh.remove_all_agents()
    assert len(fresh.agents) == 0


def test_every_sme_is_an_agent_at_scale():
    m = SCFModel(load_scenario("baselines/shanghai", {"population.n_smes": 2000}), seed=1)
    smes = m.agents_by_type[SME].to_list()
    assert [a.index for a in smes] == list(range(m.n))
    assert len(m.agents_by_type[CoreFirm]) == m.net.n_cores


def test_sparse_loan_book_sums_like_the_full_matrix():
    """The loan book keeps funded cells only; its sums must equal those of the full array."""
    m = SCFModel(load_scenario("baselines/shanghai", {"population.n_smes": 4000}), seed=2)
    for _ in range(5):
        m.step()
    book = m.loans
    principal, due = book.principal, book.due  # full (SME, instrument, slot) arrays
    assert book.guaranteed_outstanding() == principal[:, GUAR, :].sum()
    assert book.guaranteed_outstanding() > 0
    for k in range(N_INSTRUMENTS):
        assert np.array_equal(book.outstanding(k), principal[:, k, :].sum(axis=1))
    for s in range(book.slots):
        assert np.array_equal(book.due_by_sme(s), due[:, :, s].sum(axis=1))
    i = int(np.argmax(principal.sum(axis=(1, 2))))
    assert m.agents_by_type[SME].to_list()[i].debt == float(principal[i].sum())


def _clear_plain(need, offers, lender_room, guarantor_room):
    """Market clearing as first written: every SME in every round, one sort per rationing;
    the guarantor's room falls by the sum of the round's guarantees in SME order (first
    written as the sum over every SME whose r-th cheapest instrument is the guarantee, offered
    or not: zeros in other places of NumPy's pairwise sum, which could move its last bit)."""
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
        in_round = np.isfinite(rate) & (remaining > 1e-9)
        req = np.where(in_round, np.minimum(remaining, offers.amount[rows, k]), 0.0)
        req = np.maximum(req, 0.0)
        if not req.any():
            continue
        is_g = k == mk.GUAR
        if is_g.any():
            ok_g = mk.ration(np.where(is_g, req, 0.0), offers.priority, no_group, g_room)
            req = np.where(is_g, ok_g, req)
        lender = offers.lender[rows, k]
        acc = mk.ration(req, offers.priority, lender, lender_room)
        lender_room -= np.bincount(lender, acc, minlength=len(lender_room))
        g_room -= acc[is_g & in_round].sum()
        funded[rows, k] += acc
        remaining -= acc
    return funded


def _random_market(rng, n):
    """Offers with ties in rates and priorities (estimates clipped at 1), most not offered."""
    rate = np.round(rng.uniform(0.03, 0.12, (n, mk.N_INSTRUMENTS)), 3)
    rate[rng.random(rate.shape) < 0.55] = np.inf
    amount = np.where(np.isfinite(rate), rng.lognormal(3, 1, rate.shape), 0.0)
    lender = rng.integers(0, 4, rate.shape).astype(np.int32)
    priority = np.minimum(rng.lognormal(-3, 1.5, n), 1.0)
    need = np.where(rng.random(n) < 0.7, rng.lognormal(3.5, 1, n), 0.0)
    return need, mk.Offers(amount, rate, lender, priority)


def test_fast_clearing_gives_the_plain_result_bit_for_bit():
    rng = np.random.default_rng(8)
    for trial in range(40):
        n = int(rng.integers(1, 3000))
        need, offers = _random_market(rng, n)
        total = need.sum()
        room = rng.uniform(0, 0.5, 4) * total  # binding lenders
        g_room = float(rng.uniform(0, 0.3) * total)
        plain_room, fast_room = room.copy(), room.copy()
        plain = _clear_plain(need, offers, plain_room, g_room)
        fast = mk.clear(need, offers, fast_room, g_room)
        assert np.array_equal(plain, fast), trial
        assert np.array_equal(plain_room, fast_room), trial
        # and the same from the (instrument, SME) layout the model builds
        col = mk.Offers(
            *(np.ascontiguousarray(a.T).T for a in (offers.amount, offers.rate, offers.lender)),
            offers.priority,
        )
        assert np.array_equal(mk.clear(need, col, room.copy(), g_room), plain), trial


def test_priority_order_is_a_stable_sort_and_rationing_agrees_with_it():
    rng = np.random.default_rng(9)
    for _ in range(20):
        n = int(rng.integers(1, 5000))
        priority = np.minimum(np.round(rng.lognormal(-3, 1.5, n), 3), 1.0)  # many ties
        idx = np.flatnonzero(rng.random(n) < 0.8)
        order = mk.priority_order(priority, idx)
        assert np.array_equal(order, idx[np.argsort(priority[idx], kind="stable")])
        request = np.where(rng.random(n) < 0.6, rng.lognormal(2, 1, n), 0.0)
        request[np.setdiff1d(np.arange(n), idx)] = 0.0
        group = rng.integers(0, 5, n)
        room = rng.uniform(0, 0.4, 5) * request.sum()
        assert np.array_equal(
            mk.ration(request, priority, group, room, order),
            mk.ration(request, priority, group, room),
        )


def test_priority_order_compiled_and_numpy_paths_agree_on_nans_and_signed_zeros():
    """Below and above the size where the compiled merge sort hands over to NumPy, NaNs
    (last), -0.0 and 0.0 (equal: ties by position) sort as NumPy's stable sort sorts them."""
    rng = np.random.default_rng(10)
    for n in (3, 100, mk._COMPILED_SORT_MAX, mk._COMPILED_SORT_MAX + 1, 9000):
        priority = np.round(rng.lognormal(-3, 1.5, n), 2)
        priority[rng.random(n) < 0.1] = np.nan
        priority[rng.random(n) < 0.1] = -0.0
        priority[rng.random(n) < 0.1] = 0.0
        idx = np.arange(n)
        order = mk.priority_order(priority, idx)
        assert np.array_equal(order, idx[np.argsort(priority, kind="stable")]), n
        # priorities apart in their last bits only: runs of equal leading bits, one long run
        # and many short ones
        for base in (0.05, np.round(rng.lognormal(-3, 1.5, n), 4)):
            close = base + rng.integers(0, 40, n) * np.spacing(base)
            order = mk.priority_order(close, idx)
            assert np.array_equal(order, idx[np.argsort(close, kind="stable")]), n


def _run(months=6, n=1500, seed=4):
    m = SCFModel(load_scenario("baselines/shanghai", {"population.n_smes": n}), seed=seed)
    for _ in range(months):
        m.step()
    return m.recorder.frame(), m.recorder.summary(), m.ledger.balance.copy()


def test_results_do_not_depend_on_the_block_size(monkeypatch):
    """SMEs are priced in blocks that fit the CPU cache; any block size gives the same run."""
    frame, summary, balance = _run()
    for block in (1, 7, 500):
        monkeypatch.setattr(offers, "_BLOCK", block)
        f, s, b = _run()
        pd.testing.assert_frame_equal(f, frame, check_exact=True)
        assert json.dumps(s, sort_keys=True) == json.dumps(summary, sort_keys=True)
        assert np.array_equal(b, balance)


def test_loan_book_total_adds_as_numpy_adds_a_column_of_the_full_book():
    rng = np.random.default_rng(10)
    for n in (1, 700, 2048, 2049, 9000, 60_000):
        for slots in (2, 4, 7):
            full = rng.lognormal(3, 2, (n, N_INSTRUMENTS, slots))
            full[rng.random(full.shape) < 0.7] = 0.0
            assert strided_total(full[:, GUAR, :]) == full[:, GUAR, :].sum()
