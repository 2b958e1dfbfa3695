"""Interface labels in English and Simplified Chinese.

The Chinese labels use the source study's own terms (确权, 数据共享, 供应链票据, 白名单, 担保上限,
代偿率, 清欠, 一门式, 网上开户, 政务数据 ...), so a Shanghai policy officer reads the dashboard in
the vocabulary of the policy documents. Keys are dotted parameter paths for levers, metric names
for indicators, and short UI names for everything else; `t()` falls back to English, then to the
key itself, so a missing translation shows up as readable text rather than an error.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {"en": "EN", "zh": "中文"}

_UI: dict[str, tuple[str, str]] = {
    "title": ("SCF-Sim policy dashboard", "SCF-Sim 供应链金融政策仪表盘"),
    "subtitle": (
        "Move the study's levers and compare a policy run with its baseline "
        "(same firms, same shocks: a paired comparison).",
        "调整研究报告中的政策工具，将政策情景与基准情景对比（同一批企业、同一组冲击：配对比较）。",
    ),
    "language": ("Language", "语言"),
    "setup": ("Scenario", "情景设置"),
    "baseline_scenario": ("Baseline scenario", "基准情景"),
    "population": ("Number of SMEs", "中小企业数量"),
    "seed": ("Seed", "随机种子"),
    "months": ("Months", "模拟月数"),
    "levers": ("Policy levers", "政策工具"),
    "group_core": ("Core firms", "核心企业"),
    "group_bank": ("Banks and data", "银行与数据"),
    "group_guarantor": ("Government guarantor", "政府性融资担保"),
    "group_market": ("Factoring, payment, access", "保理、账款与服务"),
    "run": ("Run", "运行"),
    "reset_levers": ("Reset levers to baseline", "政策工具恢复为基准值"),
    "running": ("Running", "正在运行"),
    "stage_baseline": ("the baseline run (step 1 of 2)", "基准情景（第 1 步，共 2 步）"),
    "stage_policy": ("the policy run (last step)", "政策情景（最后一步）"),
    "estimate": ("about {secs:.0f} s in all", "预计共约 {secs:.0f} 秒"),
    "ran_in": ("computed in {secs:.2f} s", "用时 {secs:.2f} 秒"),
    "stale": ("Settings changed: press Run to update.", "设置已更改：请点击“运行”更新结果。"),
    "error": ("Could not run", "无法运行"),
    "headline": ("Headline indicators (whole run, all SMEs)", "核心指标（全期、全部中小企业）"),
    "indicator": ("Indicator", "指标"),
    "baseline": ("Baseline", "基准"),
    "policy": ("Policy", "政策"),
    "difference": ("Difference", "差值"),
    "paths": ("Monthly paths", "月度走势"),
    "by_group": ("Credit access by firm size and risk", "按企业规模和风险分组的融资可得性"),
    "size_micro": ("Micro firms (< 3 million CNY a year)", "微型企业（年营收300万元以下）"),
    "size_small": ("Small firms (3-20 million CNY)", "小型企业（300万-2000万元）"),
    "size_medium": ("Medium firms (>= 20 million CNY)", "中型企业（2000万元以上）"),
    "risk_low": ("Low risk (PD < 2%)", "低风险（违约率<2%）"),
    "risk_medium": ("Medium risk (PD 2-5%)", "中风险（违约率2%-5%）"),
    "risk_high": ("High risk (PD >= 5%)", "高风险（违约率≥5%）"),
    "mix": (
        "Financing volume by instrument (bar ends: all-in annual rate)",
        "各融资工具规模（条末：综合年化成本）",
    ),
    "all_in_rate": ("all-in annual rate", "综合年化成本"),
    "network": ("Supply network by tier", "按层级排列的供应链网络"),
    "network_run": ("Show run", "显示情景"),
    "month": ("Month", "月份"),
    "export": ("Export scenario (YAML)", "导出情景（YAML）"),
    "export_hint": (
        "The file runs with: scf run <file> --seed {seed}",
        "可用命令运行：scf run <文件> --seed {seed}",
    ),
    "study": ("study", "研究"),
    "policy_file": (
        "Policy file (a Pareto point or a discovered box)",
        "政策文件（帕累托最优点或情景发现区域）",
    ),
    "load_policy": ("Load as policy", "载入为政策情景"),
    "policy_loaded": ("Loaded {name}: press Run.", "已载入 {name}：请点击“运行”。"),
    "costs": ("Public cost by item (whole run)", "财政成本构成（全期）"),
    "cost_item": ("Item", "项目"),
    "cost_total": ("Public cost, all items", "财政成本合计"),
    "cost_fee_subsidy": ("Guarantee-fee subsidies", "担保费补贴（零保费）"),
    "cost_reimbursement": ("Payout reimbursements", "代偿补偿"),
    "cost_guarantor_expected_loss": ("Guarantor's expected losses", "政府性担保机构预期损失"),
    "cost_guarantor_capital": ("Cost of the guarantor's capital", "担保机构资本占用成本"),
    "cost_gov_data": ("Government data platform", "政务数据平台运行"),
    "cost_alt_data": ("Platform usage data", "平台用云数据"),
    "cost_one_stop": ("One-stop entry", "一门式服务"),
    "cost_online_accounts": ("Online account opening", "网上开户"),
    "cost_arrears": ("Arrears campaign", "清欠行动"),
    "money_unit": ("Money in 10,000 CNY (wan yuan).", "金额单位：万元。"),
    "changed_levers": ("Levers changed from baseline", "相对基准调整的政策工具"),
    "none": ("none", "无"),
    "tier2": ("Tier-2 suppliers", "二级供应商"),
    "tier1": ("Tier-1 suppliers", "一级供应商"),
    "cores": ("Core firms / buyers", "核心企业 / 买方"),
    "distributor": ("Distributors", "经销商"),
    "end_buyer": ("End buyers", "终端买方"),
    "funded": ("funded", "获得融资"),
    "rationed": ("rationed", "融资受限"),
    "no_need": ("no need", "无融资需求"),
    "defaulted": ("defaulted", "违约"),
    "core": ("core", "核心企业"),
    "all": ("all SMEs", "全部中小企业"),
    "chain_core_led": ("core-led chain (N+1+N)", "核心企业主导型（N+1+N）"),
    "chain_order_led": ("order-led chain (N+1+1)", "需方订单主导型（N+1+1）"),
    "chain_dispersed": ("dispersed chains", "分散型"),
    "chain_platform": ("procurement platform (N+1)", "政府采购平台型（N+1）"),
    "chain_mixed": ("mixed (all four types)", "混合（四种类型）"),
}

# Levers: dotted parameter path -> (English, Chinese).
_LEVERS: dict[str, tuple[str, str]] = {
    "core.confirm_willingness": ("Receivable confirmation by cores", "核心企业确权意愿"),
    "core.data_sharing": ("Core data sharing with banks", "核心企业数据共享"),
    "core.supply_chain_bills": ("Supply-chain bills (splittable)", "供应链票据（可拆分流转）"),
    "core.whitelist": ("Supplier white-list", "供应商融资需求白名单"),
    "core.order_financing": ("Order-stage financing", "订单融资（融资跨前）"),
    "bank.gov_data": ("Government data for banks", "政府数据开放（纳税、社保、公积金）"),
    "bank.alt_data": ("Cloud-usage data as credit evidence", "“用云”大数据增信"),
    "guarantor.per_firm_cap": ("Guarantee cap per firm", "担保上限（批次担保单户）"),
    "guarantor.fee_rate": ("Guarantee fee", "融资担保费率"),
    "guarantor.capital": ("Guarantor capital", "担保机构资本金"),
    "guarantor.leverage_max": ("Guarantor leverage ceiling", "担保放大倍数上限"),
    "guarantor.leverage_floor": ("Guarantor leverage floor (mandate)", "担保放大倍数不低于"),
    "guarantor.payout_tolerance": ("Tolerated payout rate", "担保代偿率容忍度"),
    "guarantor.reimbursement_share": ("Public reimbursement of payouts", "代偿补偿比例"),
    "guarantor.fee_waiver_sectors": (
        "Zero fee for IC, AI, biomedicine",
        "集成电路、人工智能、生物医药“零保费”",
    ),
    "factoring.bank_line_multiple": ("Bank lines to factoring firms", "银行对保理公司授信放大"),
    "payment.late_share": ("Late payment by large buyers", "大企业拖欠账款比例"),
    "payment.enforcement": ("Arrears clearance (enforced on time)", "清欠力度"),
    "access.online_accounts": ("Online account opening", "网上开户（突破异地限制）"),
    "access.one_stop": ("One-stop entry", "“一门式”服务入口"),
}

# Indicators: metric name -> (English, Chinese).
_METRICS: dict[str, tuple[str, str]] = {
    "credit_access_rate": ("Credit access (share fully funded)", "融资可得率（需求全额满足）"),
    "funded_share": ("Funded / needed volume", "融资满足率（金额）"),
    "financing_gap": ("Financing gap", "融资缺口"),
    "avg_cost_of_funds": ("Average cost of funds (annual)", "平均综合融资成本（年化）"),
    "lost_output": ("Lost output", "损失产出"),
    "sme_defaults": ("SME defaults", "中小企业违约数"),
    "guarantee_outstanding": ("Guarantees outstanding", "在保余额"),
    "guarantor_leverage": ("Guarantor leverage used", "担保放大倍数（实际）"),
    "guarantee_payout_rate": ("Guarantee payout rate", "担保代偿率"),
    "bank_npl_ratio": ("Bank NPL ratio", "银行不良贷款率"),
    "confirmations_outstanding": ("Core confirmations outstanding", "核心企业确权余额"),
    "public_cost": (
        "Public cost (every lever's cost, by item below)",
        "财政成本（各项政策工具成本，构成见下）",
    ),
}

# Financing instruments (suffix of the `vol_<instrument>` columns).
_INSTRUMENTS: dict[str, tuple[str, str]] = {
    "confirmed_receivable": (
        "Confirmed receivables (reverse factoring, bills)",
        "确权应收账款融资（反向保理、票据贴现）",
    ),
    "order_financing": ("Order financing", "订单融资"),
    "prepayment": ("Prepayment finance", "预付款融资"),
    "inventory_pledge": ("Inventory-pledge finance", "存货质押融资"),
    "guaranteed_loan": ("Guaranteed loan", "担保贷款"),
    "credit_loan": ("Credit loan", "信用贷款"),
    "unconfirmed_factoring": ("Unconfirmed factoring", "未确权保理"),
}

# Units of the schema (`ParamSpec.unit`).
_UNITS: dict[str, str] = {
    "SMEs": "家",
    "months": "个月",
    "10k CNY": "万元",
    "10k CNY/month": "万元/月",
    "10k CNY per 1,000 SMEs": "万元/每千家中小企业",
    "x": "倍",
    "per year": "年化",
    "cores": "家核心企业",
}

_ALL: dict[str, tuple[str, str]] = {**_UI, **_LEVERS, **_METRICS}


def t(key: str, lang: str = "en", **fmt: object) -> str:
    """The label for `key` in `lang` ('en' or 'zh'), formatted with `fmt` if given."""
    pair = _ALL.get(key)
    text = key if pair is None else (pair[1] if lang == "zh" else pair[0])
    return text.format(**fmt) if fmt else text


def instrument(name: str, lang: str = "en") -> str:
    """Label of a financing instrument; unknown names are shown prettified."""
    pair = _INSTRUMENTS.get(name)
    if pair is None:
        return name.replace("_", " ")
    return pair[1] if lang == "zh" else pair[0]


def unit(name: str, lang: str = "en") -> str:
    """A schema unit in `lang` (English units are the schema's own)."""
    return _UNITS.get(name, name) if lang == "zh" else name


def has(key: str) -> bool:
    """Whether `key` has a label (used by the tests: every lever and indicator must)."""
    return key in _ALL


def keys() -> list[str]:
    """Every labelled key (for tests)."""
    return list(_ALL)
