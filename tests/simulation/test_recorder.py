"""The recorder keeps its monthly rows in arrays: its rows, frame and summary equal those of the
row-dict recorder it replaced (metrics.py at 0eb8239, kept below as the reference) bit for bit."""

import json

import numpy as np
import pandas as pd
import pytest

from simulation import metrics as mt
from simulation import record_loop
from simulation.costs import COST_ITEMS, LeverCosts
from simulation.kernels import c_pow
from simulation.market import GUAR, INSTRUMENTS, LOAN_MASK, at_cells
from simulation.model import SCFModel
from simulation.scenario import load_scenario


class _LeverCosts(LeverCosts):
    """The levers' costs as they were charged (costs.py at 0eb8239)."""

    def month(self, r):
        m, c = self.model, self.model.cfg.costs
        cfg = self.model.cfg
        year = 1.0 / 12.0
        served = np.zeros(m.n, bool)
        served[r.funded.sme] = True  # SMEs funded this month
        items = dict.fromkeys(COST_ITEMS, 0.0)
        items["fee_subsidy"] = r.subsidy
        items["reimbursement"] = r.reimbursement
        if c.guarantor_expected_loss:
            g = cfg.guarantor
            at = r.funded.sme[r.funded.instrument == GUAR]
            pd_term = 1.0 - c_pow(1.0 - m.sme.pd_month[at], m.term)
            loss = float((r.funded.column(GUAR)[at] * pd_term).sum())
            items["guarantor_expected_loss"] = (
                loss * cfg.bank.lgd * g.coverage * (1.0 - g.reimbursement_share)
            )
        capital = max(m.guarantor.capital, 0.0)
        items["guarantor_capital"] = capital * c.guarantor_capital_rate * year
        if cfg.bank.gov_data:
            items["gov_data"] = (
                c.gov_data_per_year * self.scale + c.gov_data_per_sme * np.count_nonzero(served)
            ) * year
        if cfg.bank.alt_data:
            with_data = np.count_nonzero(served & m.sme.alt)
            items["alt_data"] = (
                c.alt_data_per_year * self.scale + c.alt_data_per_sme * with_data
            ) * year
        if cfg.access.one_stop:
            applicants = np.count_nonzero(r.need > 1e-9)
            items["one_stop"] = (
                c.one_stop_per_year * self.scale + c.one_stop_per_sme * applicants
            ) * year
        if cfg.access.online_accounts:
            items["online_accounts"] = c.online_accounts_per_year * self.scale * year
        if cfg.payment.enforcement > 0:
            enforced = m.arrears[0] - m.arrears[1]
            items["arrears"] = (
                c.arrears_per_year * self.scale * cfg.payment.enforcement * year
                + c.arrears_share * enforced
            )
        for k, v in items.items():
            self.totals[k] += float(v)
        return float(sum(items.values()))


class _DictRecorder:
    """The recorder as it was: a list of row dicts; the frame built from them by pandas, the
    summary read from them (metrics.py at 0eb8239)."""

    def __init__(self, model, codes):
        self.model, self.codes = model, codes
        self.rows = []
        self.public_cost = 0.0
        self.costs = _LeverCosts(model)

    def record(self, r):
        m, f = self.model, r.funded
        table, cost_by, _ = record_loop.month_table(
            mt._AT, len(mt._ROWS), r.need, m.sme.alive, r.sales, r.delivered_share,
            r.defaulted, m.loans.outstanding(4), m.loans.principal_by_sme(LOAN_MASK),
            mt.SMALL_LOAN_CAP, f.sme, f.instrument, f.amount, at_cells(r.rate, f),
            np.asarray(r.charges[f.sme, f.instrument], float), mt._IS_LOAN, self.codes,
            *mt.breakdown_cells(self.codes, (3, 3, 3)), len(mt.GROUPS))
        derived = record_loop.derive(table, mt._DERIVE_AT, len(mt.VOLUME_COLUMNS), m.term)
        values = np.concatenate((table, cost_by, derived)).T.tolist()
        public = self.costs.month(r)
        self.public_cost += public
        g = m.guarantor
        system = {
            "guarantor_leverage": g.outstanding / g.capital if g.capital > 0 else 0.0,
            "guarantee_payout_rate": g.payout_rate,
            "guarantor_outreach": g.outreach,
            "bank_npl_ratio": mt._ratio(sum(b.bad.sum() for b in m.banks),
                                        sum(b.matured.sum() for b in m.banks)),
            "confirmations_outstanding": float(m.core_conf.sum()),
            "public_cost": public,
            "ledger_residual": m.ledger.residual,
            "arrears_late": m.arrears[0],
            "arrears_enforced": m.arrears[0] - m.arrears[1],
        }
        keys = ("month", "group", *mt._ROW_KEYS, *system)
        missing = (np.nan,) * len(system)
        for group, by_group in zip(mt.GROUPS, values, strict=True):
            self.rows.append(dict(zip(keys, (r.month, group, *by_group, *(
                tuple(system.values()) if group == "all" else missing)), strict=True)))

    def frame(self):
        return pd.DataFrame(self.rows)[["month", "group", *mt.MONTHLY_METRICS]]

    def summary(self):
        rows, m = self.rows, self.model
        out, by_group = {}, {}
        last = max(row["month"] for row in rows)
        total = _total
        for gi, group in enumerate(mt.GROUPS):
            sub = rows[gi::len(mt.GROUPS)]
            row = {k: total([r[k] for r in sub]) for k in mt._SUMMED}
            end = [r for r in sub if r["month"] > last - 3]
            row.update({k: total([r[k] for r in end]) / len(end) for k in mt._END_MEANS})
            mt._derive(row, m.term)
            res = {k: row[k] for k in (*mt.GROUP_METRICS, *mt.RUN_TOTALS) if k in row}
            res["volume_by_instrument"] = {k: row[f"vol_{k}"] for k in INSTRUMENTS}
            res["rate_by_instrument"] = {
                k: float(row[f"cost_{k}"] / row[f"vol_{k}"]) if row[f"vol_{k}"] > 0 else None
                for k in INSTRUMENTS
            }
            by_group[group] = res
        out.update(by_group.pop("all"))
        g = m.guarantor
        g_out = m.loans.outstanding(4)
        firms = int((g_out > 0).sum())
        late, enforced = (total([0.0 if np.isnan(r[k]) else r[k] for r in rows])
                          for k in ("arrears_late", "arrears_enforced"))
        out.update({
            "guarantor_leverage": g.outstanding / g.capital if g.capital > 0 else 0.0,
            "guarantee_payout_rate": g.payout_rate,
            "guarantor_outreach": g.outreach,
            "guarantor_binding": g.binding,
            "bank_npl_ratio": float(rows[-len(mt.GROUPS)]["bank_npl_ratio"]),
            "confirmations_outstanding": float(m.core_conf.sum()),
            "public_cost": self.public_cost,
            "ledger_residual": m.ledger.residual,
            "guaranteed_firms": firms,
            "guarantee_per_firm": float(g_out.sum() / firms) if firms else 0.0,
            "arrears_repaid_share": float(enforced / late) if late > 0 else 1.0,
            **self.costs.summary(),
        })
        out["by_group"] = by_group
        return {k: out[k] for k in (*mt.SUMMARY_KEYS, "by_group")}


def _total(values):
    return float(np.array(values, dtype=float).sum())


def _bits(row):
    """A row's month and group, and the bits of its values (NaN-comparable)."""
    return {k: v if k in ("month", "group") else np.float64(v).tobytes()
            for k, v in row.items()}


@pytest.mark.parametrize(("scenario", "overrides", "months"), [
    ("packages/policy_package", {"population.pd_mean": 0.08, "guarantor.capital": 5.0,
                                 "bank.alt_data": True, "access.one_stop": True,
                                 "access.online_accounts": True}, 26),
    ("levers/late_payment_enforcement", {"population.pd_mean": 0.06}, 20),
    ("baselines/shanghai", {}, 15),
])
def test_recorder_rows_frame_and_summary_are_the_row_dicts_ones(scenario, overrides, months):
    """Every month of stressed runs (defaults, arrears, empty groups' NaN rates; past 12
    months, where the store grows), the rows, the frame (values and dtypes) and the summary
    equal the row-dict recorder's, bit for bit; so do the levers' costs (every lever on in
    the package)."""
    m = SCFModel(load_scenario(scenario, {"population.n_smes": 600, **overrides}), seed=6)
    new = m.recorder
    ref = _DictRecorder(m, new.codes)

    def record(r):
        mt.Recorder.record(new, r)
        ref.record(r)

    new.record = record
    arrears = 0
    for _ in range(months):
        m.step()
        assert [_bits(r) for r in new.rows] == [_bits(r) for r in ref.rows], m.month
        pd.testing.assert_frame_equal(new.frame(), ref.frame(), check_exact=True)
        assert json.dumps(new.summary()) == json.dumps(ref.summary()), m.month
        arrears += m.arrears[0] > 0
    assert len(new.rows) == months * len(mt.GROUPS)
    assert new.frame().dtypes.equals(ref.frame().dtypes)
    summary = new.summary()
    assert summary["sme_defaults"] > 0
    if scenario.startswith("packages"):  # some groups' rates undefined (NaN)
        assert any(np.isnan(r[k]) for r in new.rows for k in record_loop.DERIVED)
    if scenario.startswith("levers"):
        assert arrears > 0 and summary["arrears_repaid_share"] < 1.0
