"""What each lever and pilot file claims to move, and in which direction, against its base.

A claim is (summary metric, sign): +1 the metric rises, -1 it falls. Metrics are dotted paths
into `RunResult.summary`, e.g. `by_group.tier2.credit_access_rate` or
`volume_by_instrument.order_financing`. Every claim is what the study reports for the lever (see
each file's description) and is checked by tests/scenarios/test_lever_claims.py with paired seeds.

`REFERENCE` holds the few comparisons that are not "the file against its own base", with the
reason written beside them.
"""

from __future__ import annotations

# Library runs in the tests use 600 SMEs instead of the files' 1,000, to keep the suite fast.
SMALLER: dict[str, object] = {"population.n_smes": 600}

ACCESS = "credit_access_rate"
COST = "avg_cost_of_funds"
LOST = "lost_output"


def vol(instrument: str) -> str:
    return f"volume_by_instrument.{instrument}"


def access(group: str) -> str:
    return f"by_group.{group}.credit_access_rate"


CLAIMS: dict[str, tuple[tuple[str, int], ...]] = {
    # receivable finance opens to suppliers whose invoices the core now confirms
    "levers/confirm_willingness": (
        (vol("confirmed_receivable"), +1),
        (access("tier1"), +1),
        (COST, -1),
    ),
    # banks can verify trade, so they lend
    "levers/data_sharing": ((ACCESS, +1), (LOST, -1)),
    # tier-2 suppliers get what only tier 1 could use before
    "levers/supply_chain_bills": ((access("tier2"), +1), (vol("confirmed_receivable"), +1)),
    # banks lend on the chain relationship, not only on receivables
    "levers/whitelist": ((ACCESS, +1), (vol("credit_loan"), +1)),
    # finance moves forward to the order stage
    "levers/order_financing": ((vol("order_financing"), +1), (LOST, -1)),
    # government data lets banks see: more SMEs served, more credit lent
    "levers/gov_data": ((ACCESS, +1), (vol("credit_loan"), +1)),
    # guaranteed amounts per firm above the old cap, and more guaranteed lending in all
    "levers/guarantee_cap": (("guarantee_per_firm", +1), (vol("guaranteed_loan"), +1)),
    # cheaper guarantees: lower cost and more guaranteed lending (the firms banks leave short
    # take more of their need guaranteed, and fewer decline the price)
    "levers/guarantee_fee": ((COST, -1), (vol("guaranteed_loan"), +1)),
    # zero fee for three sectors, paid by government
    "levers/fee_waiver": ((COST, -1), ("public_cost", +1), (vol("guaranteed_loan"), +1)),
    # the "two 5s": guarantors must use more of their capital
    "levers/guarantor_mandate": (
        (vol("guaranteed_loan"), +1),
        ("guarantee_outstanding", +1),
        ("guarantor_leverage", +1),
    ),
    # reimbursed payouts: government pays, guarantors keep guaranteeing
    "levers/reimbursement": (("public_cost", +1), (vol("guaranteed_loan"), +1)),
    # the factor's capacity multiplies
    "levers/factoring_line": ((vol("unconfirmed_factoring"), +1), (ACCESS, +1)),
    # out-of-town suppliers can bank with the chain's bank
    "levers/online_accounts": ((ACCESS, +1), (LOST, -1)),
    # cheaper, faster applications: more SMEs served (the average cost of funds is not
    # claimed: the entry's saving is a yearly facility cost, and the marginal borrowers it
    # brings in pay more than the average)
    "levers/one_stop": ((ACCESS, +1),),
    # arrears repaid; SMEs stop failing for want of the money owed to them
    "levers/late_payment_enforcement": (
        ("arrears_repaid_share", +1),
        (LOST, -1),
        ("sme_defaults", -1),
    ),
    "pilots/ic_order_financing": ((vol("order_financing"), +1), (ACCESS, +1), (LOST, -1)),
    "pilots/biomedicine_whitelist": ((ACCESS, +1), (vol("credit_loan"), +1)),
    "pilots/cruise_ship_whitelist": ((ACCESS, +1), (vol("credit_loan"), +1)),
    "pilots/auto_logistics_factoring": ((vol("unconfirmed_factoring"), +1), (ACCESS, +1)),
    "pilots/cloud_usage_data": ((ACCESS, +1), (vol("credit_loan"), +1)),
}

# Comparisons against something other than the file's own base, with the reason beside each
# (none today: the schema's default guarantor is the pre-policy one, with no leverage floor).
REFERENCE: dict[str, dict[str, object]] = {}
