"""Hypothesis properties over random valid configurations.

Derandomized so CI is reproducible; explore further by hand with a larger max_examples (400
examples of the conservation property ran clean on 2026-11-26).
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation.config import ScenarioConfig
from simulation.model import SCFModel
from simulation.scenario import with_overrides

configs = st.fixed_dictionaries(
    {
        "chain.type": st.sampled_from(["core_led", "order_led", "dispersed", "platform", "mixed"]),
        "population.n_smes": st.integers(20, 250),
        "core.confirm_willingness": st.floats(0, 1),
        "core.data_sharing": st.floats(0, 1),
        "core.supply_chain_bills": st.booleans(),
        "core.whitelist": st.booleans(),
        "core.order_financing": st.booleans(),
        "bank.gov_data": st.booleans(),
        "guarantor.per_firm_cap": st.floats(0, 3000),
        "guarantor.fee_rate": st.floats(0, 0.05),
        "guarantor.capital": st.floats(0, 5000),
        "guarantor.reimbursement_share": st.floats(0, 1),
        "factoring.bank_line_multiple": st.floats(1, 10),
        "payment.term_months": st.integers(1, 6),
        "payment.late_share": st.floats(0, 1),
        "payment.enforcement": st.floats(0, 1),
        "access.online_accounts": st.booleans(),
        "population.pd_mean": st.floats(0.005, 0.3),
    }
)


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(overrides=configs, seed=st.integers(0, 2**32 - 1))
def test_money_conserved_and_no_negative_stocks(overrides, seed):
    m = SCFModel(with_overrides(ScenarioConfig(), overrides), seed=seed)
    led = m.ledger
    for _ in range(8):
        m.step()
        bal = led.balance
        assert abs(led.residual) < 1e-6 * max(1.0, np.abs(bal).sum() * 1e-6)
        firms_and_lenders = bal[: led.government]
        assert firms_and_lenders.min() > -1e-6, "a firm or lender holds negative money"
        for ring in (
            m.recv,
            m.bills,
            m.pay_out,
            m.core_conf,
            m.loans.due,
            m.loans.principal,
            m.loans.fee,
        ):
            assert ring.min() >= -1e-9
        assert all(b.principal >= -1e-6 for b in m.banks)
        assert m.factor.principal >= -1e-6


@settings(max_examples=8, deadline=None, derandomize=True)
@given(overrides=configs, seed=st.integers(0, 2**32 - 1))
def test_deterministic_for_any_configuration(overrides, seed):
    cfg = with_overrides(ScenarioConfig(), overrides)
    a, b = SCFModel(cfg, seed=seed), SCFModel(cfg, seed=seed)
    for _ in range(4):
        a.step()
        b.step()
    assert np.array_equal(a.ledger.balance, b.ledger.balance)
