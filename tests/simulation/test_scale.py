"""Scale tricks must not change results: the fast paths give what the plain paths give."""

import mesa
import numpy as np
from mesa.experimental.mesa_signals import ModelSignals

from simulation.agents import SME, CoreFirm
from simulation.market import GUAR, N_INSTRUMENTS
from simulation.model import SCFModel
from simulation.scenario import load_scenario


def _agents(model):
    return [(type(a), a.unique_id, {k: v for k, v in vars(a).items() if k != "model"})
            for a in model.agents]


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
            a.unique_id for a in plain.agents_by_type[cls]]
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
