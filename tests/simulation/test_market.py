"""Market clearing: cheapest first, capacity binds, safest first when rationed."""

import numpy as np

from simulation import market as mk


def offers(amount, rate, lender, priority):
    return mk.Offers(
        np.asarray(amount, float),
        np.asarray(rate, float),
        np.asarray(lender, np.int32),
        np.asarray(priority, float),
    )


def test_ration_serves_safest_first_within_room():
    req = np.array([50.0, 50.0, 50.0])
    acc = mk.ration(req, np.array([0.03, 0.01, 0.02]), np.zeros(3, np.int64), np.array([80.0]))
    assert acc.tolist() == [0.0, 50.0, 30.0]


def test_ration_groups_have_separate_rooms():
    req = np.array([10.0, 10.0, 10.0, 10.0])
    acc = mk.ration(req, np.zeros(4), np.array([0, 1, 0, 1]), np.array([15.0, 100.0]))
    assert acc.tolist() == [10.0, 10.0, 5.0, 10.0]


def test_clear_takes_cheapest_instrument_first_and_respects_capacity():
    n_i = mk.N_INSTRUMENTS
    amount = np.zeros((2, n_i))
    rate = np.full((2, n_i), np.inf)
    amount[:, mk.CREDIT] = 100
    rate[:, mk.CREDIT] = 0.08
    amount[:, mk.CONF] = 30
    rate[:, mk.CONF] = 0.04
    lender = np.zeros((2, n_i), np.int32)
    lender[:, mk.FACTOR] = 1
    room = np.array([70.0, 0.0])
    funded = mk.clear(
        np.array([60.0, 60.0]), offers(amount, rate, lender, [0.02, 0.01]), room, guarantor_room=0.0
    )
    assert funded[:, mk.CONF].tolist() == [30.0, 30.0]
    # 10 left for credit: the safer SME (index 1) gets it
    assert funded[:, mk.CREDIT].tolist() == [0.0, 10.0]
    assert room[0] == 0.0


def test_guarantor_room_binds_guaranteed_loans():
    n_i = mk.N_INSTRUMENTS
    amount = np.zeros((2, n_i))
    rate = np.full((2, n_i), np.inf)
    amount[:, mk.GUAR] = 100
    rate[:, mk.GUAR] = 0.06
    lender = np.zeros((2, n_i), np.int32)
    funded = mk.clear(
        np.array([100.0, 100.0]),
        offers(amount, rate, lender, [0.01, 0.02]),
        np.array([1e9, 1e9]),
        guarantor_room=120.0,
    )
    assert funded[:, mk.GUAR].tolist() == [100.0, 20.0]


def test_pd_estimate_noise_falls_with_information():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(100_000)
    pd = np.full_like(z, 0.03)
    blind = mk.estimate_pd(pd, np.zeros_like(z), 1.2, z)
    seen = mk.estimate_pd(pd, np.full_like(z, 0.8), 1.2, z)
    assert np.log(seen).std() < np.log(blind).std() / 4
    assert abs(seen.mean() / 0.03 - 1) < 0.02  # mean-preserving


def test_charges_at_cells_are_the_numpy_ones():
    """The fees and application costs at funded cells, as NumPy worked them out (market.py
    at 0eb8239): application costs where applied, fee plus two applications on guarantees."""
    rng = np.random.default_rng(3)
    n = 400
    charges = mk.Charges(rng.uniform(0, 0.5, n), np.where(rng.random(n) < 0.3, 0.0, 0.01))
    sme = np.repeat(np.arange(n), 2)
    instrument = rng.integers(0, mk.N_INSTRUMENTS, 2 * n)
    app = charges.app_rate[sme]
    want = np.where(mk._APPLIED[instrument], app, 0.0)
    g = instrument == mk.GUAR
    want[g] = charges.fee[sme[g]] + 2 * app[g]
    got = charges[sme, instrument]
    assert np.array_equal(got, want) and g.any() and (got == 0).any()
