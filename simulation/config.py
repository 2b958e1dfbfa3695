"""The one validated configuration schema of SCF-Sim.

Every parameter lives here once, with its unit, allowed range, default and, where the study gives
one, its source. Money is in 10,000 CNY (wan yuan), time in months, rates are annual fractions
unless a field says otherwise. Lender capital scales with the population ("per 1,000 SMEs") so a
scenario means the same thing at 500 SMEs and at 500,000.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ChainType = Literal["core_led", "order_led", "dispersed", "platform", "mixed"]
CHAIN_TYPES: tuple[str, ...] = ("core_led", "order_led", "dispersed", "platform")

# Sectors named by the study, by chain type (section 1.1 of the source).
SECTORS: dict[str, tuple[str, ...]] = {
    "core_led": (
        "autos", "tobacco", "petrochemicals", "steel", "textiles", "energy_equipment",
        "environmental", "integrated_circuits",
    ),
    "order_led": ("shipbuilding", "aerospace"),
    "dispersed": ("robotics", "ai", "biomedicine"),
    "platform": ("government_procurement",),
}
ALL_SECTORS: tuple[str, ...] = tuple(s for group in SECTORS.values() for s in group)
Sector = Literal[
    "autos", "tobacco", "petrochemicals", "steel", "textiles", "energy_equipment",
    "environmental", "integrated_circuits", "shipbuilding", "aerospace", "robotics", "ai",
    "biomedicine", "government_procurement",
]


def F(default: Any, description: str, unit: str = "", **limits: Any) -> Any:
    """A schema field whose unit travels with it (shown by `--help`, the dashboard and docs)."""
    extra = {"unit": unit} if unit else None
    return Field(default, description=description, json_schema_extra=extra, **limits)


class Section(BaseModel):
    """A strict block of the schema: unknown keys and wrong types are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ChainMix(Section):
    """SME shares of a mixed population by chain type (weights, normalised at build time)."""

    core_led: float = F(8.0, "weight of core-led chains (study: 8 sectors)", ge=0)
    order_led: float = F(2.0, "weight of order-led chains (study: 2 sectors)", ge=0)
    dispersed: float = F(3.0, "weight of dispersed chains (study: 3 sectors)", ge=0)
    platform: float = F(1.0, "weight of the procurement platform (study: 1)", ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ChainMix:
        if self.core_led + self.order_led + self.dispersed + self.platform <= 0:
            raise ValueError("at least one chain weight must be positive")
        return self


class ChainConfig(Section):
    """Shape of the supply networks."""

    type: ChainType = F("core_led", "chain type; `mixed` combines all four by `mix` weights")
    mix: ChainMix = Field(default_factory=ChainMix)
    core_led_size: int = F(200, "SMEs per core in a core-led chain", "SMEs", ge=5, le=100_000)
    order_led_size: int = F(150, "SMEs per manufacturer in an order-led chain", "SMEs", ge=5,
                            le=100_000)
    dispersed_size: int = F(40, "SMEs per mid-size core in dispersed chains", "SMEs", ge=5,
                            le=100_000)
    platform_size: int = F(2000, "suppliers per procurement platform", "SMEs", ge=5, le=1_000_000)
    tier2_share: float = F(0.4, "share of upstream SMEs that are tier-2 suppliers", ge=0, le=0.9)
    distributor_share: float = F(0.25, "share of a chain's SMEs that are distributors "
                                 "(core-led and dispersed only)", ge=0, le=0.8)
    dispersed_max_cores: int = F(3, "most cores a dispersed-chain SME supplies", "cores", ge=1,
                                 le=10)
    dispersed_grade_shares: tuple[float, float, float] = F(
        (0.3, 0.5, 0.2), "shares of dispersed cores graded A, B, C")
    sectors: list[Sector] = F([], "restrict chains to these sectors (each chain type keeps "
                              "its own sectors if none of these is one of them); empty: all")


class PopulationConfig(Section):
    """Heterogeneous SMEs: size, cash, risk, information, location."""

    n_smes: int = F(1000, "number of SMEs", "SMEs", ge=10, le=2_000_000)
    sales_median: float = F(60.0, "median monthly sales of an SME (720 万 a year: a small "
                            "firm by China's 2011 standard)", "10k CNY/month", gt=0, le=100_000)
    sales_sigma: float = F(1.2, "log-sd of SME size (heavy-tailed: a tenth of SMEs sell over "
                           "4.6x the median)", ge=0, le=3)
    tier1_size_multiple: float = F(4.0, "tier-1 suppliers are this much larger than others "
                                   "(the chain's direct suppliers: the study's pilot firms "
                                   "borrow near the 1,000 万 cap)", ge=0.1, le=50)
    cost_share: float = F(0.85, "production cost as a share of sales", gt=0, lt=1)
    tier2_input_share: float = F(0.3, "share of a tier-1's cost bought from its tier-2 SMEs",
                                 ge=0, le=0.9)
    cash_months: float = F(0.6, "cash buffer owners keep (and initial cash, x U(0.5, 1.5)), in "
                           "months of production cost", "months", ge=0, le=24)
    equity_months: float = F(2.0, "owners' target net working capital (cash and receivables "
                             "less debts), median across SMEs, in months of production cost; "
                             "receivables beyond it are carried on loans", "months", ge=0,
                             le=60)
    equity_sigma: float = F(1.0, "log-sd of the owners' target net working capital across "
                            "SMEs", ge=0, le=3)
    hurdle_rate: float = F(0.12, "median highest all-in annual cost of finance an SME will "
                           "pay for working capital (discouraged borrowers decline dearer "
                           "offers)", "per year", gt=0, le=2)
    hurdle_sigma: float = F(0.4, "log-sd of that highest cost across SMEs", ge=0, le=3)
    payout_share: float = F(0.5, "share of net working capital above target paid out to "
                            "owners each month (out of cash)", ge=0, le=1)
    pd_mean: float = F(0.03, "mean true annual default probability of SMEs", gt=0, le=0.5)
    pd_concentration: float = F(50.0, "Beta concentration of SME default risk", gt=1, le=10_000)
    hard_info_mean: float = F(0.4, "mean quality of hard information (statements, collateral)",
                              gt=0, lt=1)
    remote_share: float = F(0.15, "share of SMEs registered out of town (cannot open accounts "
                            "at the chain's bank without online opening)", ge=0, le=1)
    demand_sigma: float = F(0.10, "sd of the monthly chain-wide demand shock (log)", ge=0, le=2)
    demand_persistence: float = F(0.7, "AR(1) persistence of the chain demand shock", ge=0,
                                  lt=1)
    idio_sigma: float = F(0.15, "sd of each SME's monthly order noise (log)", ge=0, le=2)
    order_patience_months: float = F(1.0, "how long an order waits for funding", "months", gt=0,
                                     le=12)


class CoreConfig(Section):
    """Core firms' behaviour: the levers the study says decide SME access."""

    confirm_willingness: float = F(0.3, "probability a core confirms a supplier's receivable "
                                   "when asked (确权意愿)", ge=0, le=1)
    data_sharing: float = F(0.2, "share of suppliers whose transaction data the core shares "
                            "with banks (数据共享)", ge=0, le=1)
    supply_chain_bills: bool = F(False, "core issues splittable supply-chain bills that tier-1 "
                                 "suppliers pass to tier 2 (供应链票据)")
    bill_pass_share: float = F(0.5, "share of a tier-1's confirmed bills it passes upstream",
                               ge=0, le=1)
    whitelist: bool = F(False, "core nominates a supplier white-list to its bank (白名单)")
    whitelist_share: float = F(0.3, "share of a core's SMEs on its white-list", ge=0, le=1)
    order_financing: bool = F(False, "banks finance at the order stage on shared order data "
                              "(订单融资; inherent in order-led and platform chains)")
    credit_line_months: float = F(1.0, "room for confirmations in the core's bank credit line, "
                                  "in months of its purchases", "months", ge=0, le=24)
    markup: float = F(0.15, "core's margin over its purchases from SMEs", ge=0, le=2)


class BankConfig(Section):
    """Banks: screening with noisy information, pricing, rationing, capital limits."""

    n_banks: int = F(3, "number of banks; each chain has one main bank (一链一行)", ge=1, le=100)
    capital: float = F(20000.0, "capital of each bank allotted to SME lending (ample: the study "
                       "finds banks held back by information and cost, not capital)",
                       "10k CNY per 1,000 SMEs", gt=0, le=1e7)
    capital_ratio: float = F(0.105, "minimum capital / loans", gt=0, le=1)
    funding_rate: float = F(0.025, "banks' funding cost", "per year", ge=0, le=0.3)
    margin: float = F(0.015, "operating margin on SME loans", "per year", ge=0, le=0.2)
    opacity_premium: float = F(0.03, "extra rate charged for firms the bank cannot see",
                               "per year", ge=0, le=0.3)
    max_rate: float = F(0.15, "highest rate a bank will charge; riskier-looking firms are "
                        "rationed", "per year", gt=0, le=1)
    max_pd: float = F(0.06, "risk appetite: highest estimated annual PD accepted", gt=0, le=1)
    lgd: float = F(0.6, "loss given default on unsecured SME loans", ge=0, le=1)
    screening_sigma: float = F(1.2, "log-sd of the PD estimate with no information", ge=0, le=5)
    credit_limit_months: float = F(3.0, "credit-loan limit in months of sales at full "
                                   "information", "months", ge=0, le=24)
    gov_data: bool = F(False, "banks read government data: tax, social insurance, housing "
                       "fund (386 items from 8 departments)")
    alt_data: bool = F(False, "banks read platform usage data as credit evidence (用云数据)")
    alt_data_coverage: float = F(0.3, "share of SMEs with platform usage data", ge=0, le=1)
    weight_hard: float = F(0.6, "information weight of hard information", ge=0, le=1)
    weight_gov: float = F(0.4, "information weight of government data", ge=0, le=1)
    weight_core: float = F(0.5, "information weight of the core's shared data", ge=0, le=1)
    weight_whitelist: float = F(0.3, "information weight of a white-list nomination", ge=0, le=1)
    weight_alt: float = F(0.3, "information weight of platform usage data", ge=0, le=1)
    advance_rate: float = F(0.9, "advance on confirmed receivables and orders", ge=0, le=1)
    pledge_haircut: float = F(0.4, "haircut on pledged inventory", ge=0, le=1)
    npl_tolerance: float = F(0.03, "NPL ratio above which banks tighten their risk appetite",
                             ge=0, le=1)
    fixed_cost: float = F(1.0, "bank's yearly cost of screening and monitoring one SME "
                          "facility at no information; half of it is saved at full "
                          "information (government data, shared data)", "10k CNY per year",
                          ge=0, le=100)


class GuarantorConfig(Section):
    """Government financing guarantor (政府性融资担保)."""

    capital: float = F(8000.0, "guarantor capital (pre-policy guarantors used well under 3x of "
                       "it: the study's reason for the 5x floor)", "10k CNY per 1,000 SMEs",
                       ge=0, le=1e7)
    leverage_max: float = F(3.0, "prudential ceiling on guarantees outstanding / capital; "
                            "pre-policy guarantors were cautious", "x", ge=0, le=50)
    leverage_floor: float = F(0.0, "mandated minimum leverage (担保放大倍数原则上不低于五倍: "
                              "5x); below it the guarantor goes out for business while its "
                              "payout rate is within tolerance; 0: no mandate", "x", ge=0,
                              le=50)
    per_firm_cap: float = F(500.0, "most a single firm may have guaranteed (study: 500 -> "
                            "1000)", "10k CNY", ge=0, le=100_000)
    fee_rate: float = F(0.025, "guarantee fee (study: 2.5% -> 0.9%)", "per year", ge=0, le=0.2)
    fee_waiver_sectors: list[Sector] = F([], "sectors whose fee the government pays (零保费: "
                                         "integrated_circuits, ai, biomedicine)")
    coverage: float = F(0.8, "share of a guaranteed loan's loss the guarantor pays", ge=0, le=1)
    additional_only: bool = F(True, "guarantee only what the bank would not lend on its own "
                              "credit (additionality); a guarantor under a leverage floor "
                              "loosens it as it goes out for business")
    delay_months: float = F(1.0, "processing time of a guarantee contract (once a year: a firm "
                            "with a contract draws on it at once)", "months", ge=0, le=12)
    max_pd: float = F(0.05, "highest estimated annual PD the guarantor accepts (cautious "
                      "before the mandate; a guarantor below its leverage floor widens it up to "
                      "twice this)", gt=0, le=1)
    payout_tolerance: float = F(0.03, "tolerated payout rate (annual payouts / guarantees "
                                "outstanding), net of reimbursement; above it the guarantor "
                                "tightens (study: up to 5%)", ge=0, le=1)
    reimbursement_share: float = F(0.0, "share of payouts the government reimburses (study: "
                                   "up to 70% for emergency loans)", ge=0, le=1)


class FactoringConfig(Section):
    """Factoring firms (commercial factors and cores' factoring arms)."""

    equity: float = F(1500.0, "equity of the factoring firms", "10k CNY per 1,000 SMEs", ge=0,
                      le=1e7)
    bank_line_multiple: float = F(2.0, "capacity = equity x this multiple; >1 means bank "
                                  "lines to the factor (auto-logistics pilot)", "x", ge=1,
                                  le=50)
    margin: float = F(0.04, "factor's margin", "per year", ge=0, le=0.5)
    max_pd: float = F(0.08, "highest estimated PD the factor accepts for unconfirmed "
                      "receivables", gt=0, le=1)
    advance_rate: float = F(0.8, "advance on unconfirmed receivables", ge=0, le=1)


class PaymentConfig(Section):
    """Trade credit terms and late payment by large buyers."""

    term_months: int = F(3, "payment term of buyers (and tenor of working-capital finance)",
                         "months", ge=1, le=12)
    late_share: float = F(0.2, "share of core payments made late", ge=0, le=1)
    late_months: int = F(2, "how late a late payment is", "months", ge=1, le=12)
    enforcement: float = F(0.0, "share of would-be late payments enforced on time "
                           "(清欠; study: 30.4 of 31.1 repaid)", ge=0, le=1)


class AccessConfig(Section):
    """Frictions of applying: accounts, entry points, costs."""

    online_accounts: bool = F(False, "remote SMEs can open accounts online (网上开户)")
    one_stop: bool = F(False, "one-stop entry (一门式) cutting application cost and delay")
    one_stop_factor: float = F(0.5, "factor applied to application cost and delay by the "
                               "one-stop entry", ge=0, le=1)
    application_cost: float = F(0.3, "SME's cost of applying for one facility (a credit line "
                                "or a guarantee contract), renewed yearly", "10k CNY per year",
                                ge=0, le=100)


class MacroConfig(Section):
    """Conditions outside the levers: demand and relief measures (the year 2020)."""

    demand_level: float = F(1.0, "level of all orders relative to normal (Shanghai 2020: GDP "
                            "-6.7% year on year in Q1, +1.7% for the year)", ge=0, le=5)
    deferral: bool = F(False, "repayment deferral for small firms (延期还本付息): banks roll "
                       "over the bank-loan principal an SME cannot repay on time")


class ScheduledChange(Section):
    """Parameters that change from a month on (a path per month, as steps)."""

    month: int = F(1, "first month in which the values hold", "month", ge=1, le=600)
    set: dict[str, Any] = F({}, "dotted parameter paths and their values from this month on")
    group: str = F("", "the group of inputs the change belongs to (e.g. macro, package), by "
                   "which a year's changes are split", max_length=40)
    note: str = F("", "what the change is and its source")


# Parameters a schedule may not change: they shape the network, the population, the rings of
# receivables and loans, or the lenders' initial funding.
FIXED_IN_RUN: tuple[str, ...] = (
    "description", "months", "schedule", "chain.", "population.", "bank.n_banks", "bank.capital",
    "guarantor.capital", "factoring.equity", "factoring.bank_line_multiple",
    "payment.term_months", "payment.late_months",
)


class CostsConfig(Section):
    """What each lever costs the public purse (10k CNY), beyond the fee subsidies and the
    reimbursements the model pays month by month. Running costs are charged only while the
    lever is on; `per 1,000 SMEs` scales with the population like lender capital. No figure
    below is in the study: each is an assumption, stated so, to be replaced by a budget line."""

    guarantor_expected_loss: bool = F(True, "count the expected loss on the guarantees the "
                                      "government guarantor writes (principal x true default "
                                      "probability over the term x bank LGD x coverage), less "
                                      "the reimbursed share already counted when paid: its "
                                      "capital is public (政府性融资担保); its fee income is "
                                      "taken to pay its running costs (assumption)")
    guarantor_capital_rate: float = F(0.03, "annual cost of the public capital held by the "
                                      "guarantor, so a capital injection costs money "
                                      "(assumption: about the yield on long-term government "
                                      "bonds, 2.5-3.5% in 2019-2021)", "per year", ge=0, le=0.3)
    gov_data_per_year: float = F(5.0, "running cost of the government data platform while "
                                 "banks read it (assumption: 20 million CNY a year for a city "
                                 "of about 400,000 SMEs)", "10k CNY/year per 1,000 SMEs", ge=0,
                                 le=1e6)
    gov_data_per_sme: float = F(0.02, "cost of each SME a bank funds on government data: "
                                "queries, authorisation, verification (assumption: 200 CNY "
                                "per SME-year)", "10k CNY per SME-year", ge=0, le=100)
    alt_data_per_year: float = F(3.0, "running cost of the platform usage-data service "
                                 "while banks read it (assumption)", "10k CNY/year per 1,000 "
                                 "SMEs", ge=0, le=1e6)
    alt_data_per_sme: float = F(0.01, "cost of each funded SME with platform usage data "
                                "(assumption: 100 CNY per SME-year)", "10k CNY per SME-year",
                                ge=0, le=100)
    one_stop_per_year: float = F(10.0, "running cost of the one-stop entry: offices, staff, "
                                 "the online window (assumption)", "10k CNY/year per 1,000 "
                                 "SMEs", ge=0, le=1e6)
    one_stop_per_sme: float = F(0.01, "cost of each SME applying through the one-stop entry "
                                "(assumption: 100 CNY per SME-year)", "10k CNY per SME-year",
                                ge=0, le=100)
    online_accounts_per_year: float = F(1.0, "running cost of online account opening for "
                                        "out-of-town SMEs (assumption)", "10k CNY/year per "
                                        "1,000 SMEs", ge=0, le=1e6)
    arrears_per_year: float = F(5.0, "running cost of the arrears campaign at full "
                                "enforcement, scaled by `payment.enforcement` (assumption)",
                                "10k CNY/year per 1,000 SMEs", ge=0, le=1e6)
    arrears_share: float = F(0.005, "cost of enforcing each 10k CNY of arrears paid on time "
                             "(assumption: 0.5% in casework)", ge=0, le=1)


class ScenarioConfig(Section):
    """A complete, validated scenario: what `run_one` needs besides a seed."""

    description: str = F("", "one line saying what this scenario is and why it exists")
    months: int = F(36, "default horizon of a run", "months", ge=1, le=600)
    chain: ChainConfig = Field(default_factory=ChainConfig)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    core: CoreConfig = Field(default_factory=CoreConfig)
    bank: BankConfig = Field(default_factory=BankConfig)
    guarantor: GuarantorConfig = Field(default_factory=GuarantorConfig)
    factoring: FactoringConfig = Field(default_factory=FactoringConfig)
    payment: PaymentConfig = Field(default_factory=PaymentConfig)
    access: AccessConfig = Field(default_factory=AccessConfig)
    costs: CostsConfig = Field(default_factory=CostsConfig)
    macro: MacroConfig = Field(default_factory=MacroConfig)
    schedule: list[ScheduledChange] = F([], "changes from a month on, in month order: "
                                        "policies switched on, rate paths, demand paths")

    @model_validator(mode="after")
    def _schedule_valid(self) -> ScenarioConfig:
        months = [c.month for c in self.schedule]
        if months != sorted(months):
            raise ValueError("schedule: changes must be in month order")
        data = self.model_dump(mode="python", exclude={"schedule"})
        for i, change in enumerate(self.schedule):
            for path, value in change.set.items():
                if any(path == f or (f.endswith(".") and path.startswith(f))
                       for f in FIXED_IN_RUN):
                    raise ValueError(f"schedule[{i}].set.{path}: cannot change during a run")
                if not set_dotted(data, path, value):
                    raise ValueError(f"schedule[{i}].set.{path}: unknown parameter")
            try:
                ScenarioConfig.model_validate(data)
            except ValueError as exc:
                errs = getattr(exc, "errors", lambda: [])()
                what = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs)
                raise ValueError(f"schedule[{i}] (month {change.month}): {what or exc}") from None
        return self

    def at_month(self, month: int) -> ScenarioConfig:
        """The configuration in force in `month` (1-based): every change up to it applied."""
        due = [c for c in self.schedule if c.month <= month]
        if not due:
            return self
        data = self.model_dump(mode="python")
        for change in due:
            for path, value in change.set.items():
                set_dotted(data, path, value)
        return ScenarioConfig.model_validate(data)


def get_dotted(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a dumped config (KeyError if there is none)."""
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def set_dotted(data: dict[str, Any], path: str, value: Any) -> bool:
    """Replace the value at an existing dotted path of a dumped config; False if none is there."""
    *head, last = path.split(".")
    node = data
    for part in head:
        node = node.get(part)
        if not isinstance(node, dict):
            return False
    if last not in node:
        return False
    node[last] = value
    return True
