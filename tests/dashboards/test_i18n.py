"""Both languages label every control and indicator; Chinese uses the study's own terms."""

from __future__ import annotations

from dashboards import i18n
from dashboards.controls import GROUPS, LEVERS
from dashboards.results import INDICATORS, PATHS
from simulation.market import INSTRUMENTS


def test_every_lever_indicator_and_group_has_both_labels():
    keys = [lv.path for lv in LEVERS] + [k for k, _ in INDICATORS + PATHS] + list(GROUPS)
    for key in keys:
        assert i18n.has(key), key
        en, zh = i18n.t(key, "en"), i18n.t(key, "zh")
        assert en and zh and en != zh, key
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), f"{key}: no Chinese in {zh!r}"


def test_every_instrument_is_named_in_both_languages():
    for name in INSTRUMENTS:
        assert i18n.instrument(name, "en") != i18n.instrument(name, "zh")


def test_chinese_labels_use_the_study_terms():
    zh = " ".join(i18n.t(lv.path, "zh") for lv in LEVERS)
    for term in (
        "确权",
        "数据共享",
        "担保上限",
        "白名单",
        "供应链票据",
        "政府数据",
        "代偿",
        "零保费",
        "网上开户",
        "一门式",
        "清欠",
        "放大倍数",
    ):
        assert term in zh, term


def test_unknown_keys_fall_back_to_the_key_and_formatting_works():
    assert i18n.t("no_such_key", "zh") == "no_such_key"
    assert "2.50" in i18n.t("ran_in", "en", secs=2.5)
    assert "2.50" in i18n.t("ran_in", "zh", secs=2.5)


def test_every_unit_on_a_control_has_a_chinese_form():
    from dashboards.controls import RUN_CONTROLS
    from simulation.scenario import PARAMETERS

    paths = [lv.path for lv in LEVERS] + [p for p, _, _ in RUN_CONTROLS.values()]
    for path in paths:
        unit = PARAMETERS[path].unit
        if unit:
            assert i18n.unit(unit, "zh") != unit, unit
            assert i18n.unit(unit, "en") == unit
