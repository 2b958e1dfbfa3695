"""Solara components of the dashboard: controls, indicator table, charts, network, export.

Components get their state from the page (`dashboards.app.Page`) as values and callbacks; none
keeps module-level state, so each browser session is independent. CSS classes prefixed `scf-` are
stable hooks for the browser tests (and for anyone scripting the page).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import reacton.ipyvuetify as v
import solara

from dashboards import i18n
from dashboards.controls import (
    GROUPS,
    LEVERS,
    RUN_CONTROLS,
    SEED_RANGE,
    Lever,
    Settings,
    baseline_options,
    export_yaml,
)
from dashboards.i18n import t
from dashboards.results import INDICATORS, Pair, fmt_diff, fmt_value, headline
from simulation.scenario import PARAMETERS


def css(path: str) -> str:
    """CSS-safe form of a dotted path (`core.data_sharing` -> `core-data_sharing`)."""
    return path.replace(".", "-")


def _show(lever: Lever, value: Any) -> str:
    if lever.percent:
        return f"{100 * value:.1f}%"
    return f"{value:g}"


def _unit(lever: Lever, lang: str) -> str:
    return i18n.unit(lever.spec.unit, lang)


@solara.component
def LabeledSlider(
    label: str, value: float, lo: float, hi: float, step: float, on_value: Callable[[float], None]
):
    """A full-width slider with its label (and current value) above it."""
    solara.Text(label, style={"font-size": "14px"})
    v.Slider(
        v_model=value,
        on_v_model=on_value,
        min=lo,
        max=hi,
        step=step,
        dense=True,
        hide_details=True,
        thumb_label=False,
        class_="mt-0 pt-0",
    )


@solara.component
def LeverControl(lever: Lever, value: Any, on_value: Callable[[Any], None], lang: str):
    """One lever: a slider or switch labelled with unit, current value and study marks."""
    name = t(lever.path, lang)
    with solara.Column(gap="0px", classes=["scf-lever", f"scf-lever-{css(lever.path)}"]):
        if lever.kind in ("bool", "waiver"):
            v.Switch(
                label=name,
                v_model=bool(value),
                on_v_model=lambda x: on_value(bool(x)),
                dense=True,
                hide_details=True,
                class_="mt-1 mb-1",
            )
            return
        lo, hi = lever.bounds
        unit = _unit(lever, lang)
        label = f"{name}: {_show(lever, value)}" + (f" ({unit})" if unit else "")
        cast = int if lever.kind == "int" else float
        step = max(1, int(lever.slider_step)) if lever.kind == "int" else lever.slider_step
        LabeledSlider(label, cast(value), lo, hi, step, lambda x: on_value(cast(x)))
        if lever.refs:
            with solara.Row(gap="4px", classes=["scf-refs"]):
                solara.Text(t("study", lang) + ":", style={"font-size": "12px"})
                for ref in lever.refs:
                    solara.Button(
                        _show(lever, ref),
                        text=True,
                        small=True,
                        on_click=lambda r=ref: on_value(r),
                        classes=["scf-ref"],
                        style={"min-width": "0"},
                    )


@solara.component
def SelectBox(
    label: str,
    items: list[tuple[str, str]],
    value: str,
    on_value: Callable[[str], None],
    classes: list[str],
):
    """A Vuetify select showing translated text for each value."""
    v.Select(
        label=label,
        items=[{"text": text, "value": val} for val, text in items],
        v_model=value,
        on_v_model=on_value,
        dense=True,
        hide_details=True,
        class_=" ".join(classes),
    )


def _baseline_label(key: str, lang: str) -> str:
    kind, _, name = key.partition(":")
    return t(f"chain_{name}", lang) if kind == "chain" else name


@solara.component
def Controls(
    draft: Settings,
    set_draft: Callable[[Settings], None],
    lang: str,
    on_baseline: Callable[[str], None],
    on_reset: Callable[[], None],
):
    """Scenario set-up and the policy levers (values flow up through callbacks)."""

    def update(**kw: Any) -> None:
        set_draft(dataclasses.replace(draft, **kw))

    def set_lever(path: str, value: Any) -> None:
        update(levers={**draft.levers, path: value})

    options = solara.use_memo(baseline_options, dependencies=[])  # read the library once
    solara.Markdown(f"**{t('setup', lang)}**")
    SelectBox(
        t("baseline_scenario", lang),
        [(k, _baseline_label(k, lang)) for k in options],
        draft.baseline,
        on_baseline,
        ["scf-baseline"],
    )
    for key in ("n_smes", "months"):
        path, (lo, hi), step = RUN_CONTROLS[key]
        unit = i18n.unit(PARAMETERS[path].unit, lang)
        label = t("population" if key == "n_smes" else "months", lang)
        with solara.Column(gap="0px", classes=[f"scf-run-{key}"]):
            LabeledSlider(
                f"{label}: {getattr(draft, key):,} {unit}",
                getattr(draft, key),
                lo,
                hi,
                step,
                lambda x, k=key: update(**{k: int(x)}),
            )
    solara.InputInt(
        t("seed", lang),
        value=draft.seed,
        classes=["scf-seed"],
        on_value=lambda x: update(seed=min(max(int(x or 0), SEED_RANGE[0]), SEED_RANGE[1])),
    )
    solara.Markdown(f"**{t('levers', lang)}**")
    for group in GROUPS:
        solara.Text(t(group, lang), style={"font-weight": "500", "margin-top": "8px"})
        for lever in (lv for lv in LEVERS if lv.group == group):
            LeverControl(
                lever, draft.levers[lever.path], lambda x, p=lever.path: set_lever(p, x), lang
            )
    solara.Button(t("reset_levers", lang), on_click=on_reset, text=True, classes=["scf-reset"])


@solara.component
def Headline(pair: Pair, lang: str):
    """Baseline, policy and their difference for each headline indicator."""
    base, pol = headline(pair.baseline), headline(pair.policy)
    pad = "padding: 4px 10px; text-align: "
    head = [
        _cell("th", t(h, lang), "", pad + ("left" if h == "indicator" else "right"))
        for h in ("indicator", "baseline", "policy", "difference")
    ]
    rows = [v.Html(tag="tr", children=head)]
    for key, kind in INDICATORS:
        cells = [
            _cell("td", t(key, lang), f"scf-label-{key}", pad + "left"),
            _cell("td", fmt_value(kind, base[key]), f"scf-base-{key}", pad + "right"),
            _cell("td", fmt_value(kind, pol[key]), f"scf-policy-{key}", pad + "right"),
            _cell(
                "td",
                fmt_diff(kind, pol[key] - base[key]),
                f"scf-diff-{key}",
                pad + "right; font-weight: 600",
            ),
        ]
        rows.append(v.Html(tag="tr", children=cells))
    v.Html(
        tag="table",
        children=rows,
        class_="scf-headline",
        style_="border-collapse: collapse; width: 100%",
    )


def _cell(tag: str, text: str, cls: str, style: str):
    return v.Html(tag=tag, children=[text], class_=cls, style_=style)


@solara.component
def Export(draft: Settings, lang: str):
    """Download the current settings as a scenario YAML that `scf run` accepts."""
    name = draft.baseline.partition(":")[2].replace("/", "_")
    filename = f"scf_policy_{name}_seed{draft.seed}.yaml"
    with solara.Column(gap="2px", classes=["scf-export"]):
        solara.FileDownload(
            lambda: export_yaml(draft),
            filename=filename,
            label=t("export", lang),
            mime_type="application/x-yaml",
        )
        solara.Text(t("export_hint", lang, seed=draft.seed), style={"font-size": "12px"})


@solara.component
def LanguageSwitch(lang: str, set_lang: Callable[[str], None]):
    """EN / 中文 toggle."""
    with solara.ToggleButtonsSingle(value=lang, on_value=set_lang, classes=["scf-lang"]):
        for code, text in i18n.LANGUAGES.items():
            solara.Button(text, value=code, classes=[f"scf-lang-{code}"])
