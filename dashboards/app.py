"""SCF-Sim policy dashboard: the study's levers, a baseline and a policy run side by side.

Serve with `scf dashboard` (or `solara run dashboards.app`). A policy officer picks a chain type
or a library scenario, moves levers (确权, 数据共享, 供应链票据, 白名单, 政务数据, 担保上限 ...),
presses Run, and reads the headline indicators of baseline and policy with their difference,
the monthly paths, the instrument mix, and the supply network replayed month by month.

Why plain Solara rather than Mesa's SolaraViz:
- SolaraViz drives *one* stepping model instance and rebuilds it from keyword arguments on Reset.
  The dashboard compares *two* runs (baseline and policy with the same seed, common random
  numbers) produced by the pure `simulation.run_one`, the same function the CLI and the batch
  runner use, so what the page shows is exactly what `scf run` computes.
- Controls are dotted paths of a nested schema (`guarantor.per_firm_cap`), built from
  `simulation.scenario.PARAMETERS`; SolaraViz's controls map to flat `__init__` keywords.
- SolaraViz apps usually create their model at module level, which every browser session then
  shares. Here all state lives in hooks of `Page` (`use_reactive`, `use_memo`), so each session
  has its own settings, its own results and its own baseline cache; nothing is module-level
  except constants.
- We need things SolaraViz does not give: a cached baseline (moving a lever reruns only the
  policy), a language switch, YAML export, a tier layout instead of the spring layout.
Mesa's conventions are kept where they fit: a `Page` component, `FigurePlotly` panels, and the
model itself is a Mesa model behind `run_one`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import solara
from solara.lab import use_task

from dashboards.components import Controls, Export, Headline, LanguageSwitch
from dashboards.controls import Settings, baseline_config, lever_values, load_baseline
from dashboards.figures import groups_figure, mix_figure, network_figure, paths_figure
from dashboards.i18n import t
from dashboards.layout import tier_layout
from dashboards.plot import Plot
from dashboards.policy import FONT_CSS, CostTable, PolicyLoader
from dashboards.results import (
    Pair,
    estimate_seconds,
    instrument_rates,
    instrument_volumes,
    network_graph,
    run_pair,
    status_matrix,
)


def initial_settings(baseline: str = "chain:core_led") -> Settings:
    """Settings whose levers equal the baseline's values (policy = baseline until changed)."""
    s = Settings(baseline=baseline)
    s.months = int(load_baseline(baseline).months)
    s.levers = lever_values(baseline_config(s))
    return s


@solara.component
def NetworkView(pair: Pair, lang: str):
    """The supply network by tier, coloured by SME status, with a month slider to replay."""
    which, set_which = solara.use_state("policy")
    month, set_month = solara.use_state(pair.settings.months)
    s = pair.settings
    graph_pos = solara.use_memo(
        lambda: _graph_and_layout(pair), dependencies=[s.baseline, s.n_smes, s.seed]
    )
    run = pair.policy if which == "policy" else pair.baseline
    status = solara.use_memo(lambda: status_matrix(run), dependencies=[id(run)])
    m = min(max(month, 1), status.shape[0])
    g, pos = graph_pos
    fig = solara.use_memo(
        lambda: network_figure(g, pos, status[m - 1], lang),
        dependencies=[id(run), m, lang, id(g)],
    )
    with solara.Row(classes=["scf-network-controls"]):
        with solara.ToggleButtonsSingle(value=which, on_value=set_which):
            solara.Button(t("baseline", lang), value="baseline")
            solara.Button(t("policy", lang), value="policy")
        with solara.Div(classes=["scf-month"], style={"flex-grow": "1"}):
            solara.SliderInt(
                f"{t('month', lang)}: {m}",
                value=m,
                min=1,
                max=status.shape[0],
                on_value=set_month,
                thumb_label=False,
            )
    Plot(fig)


def _graph_and_layout(pair: Pair) -> tuple[Any, Any]:
    g = network_graph(pair.policy.config, pair.settings.seed)
    return g, tier_layout(g)


@solara.component
def Results(pair: Pair, lang: str):
    """Headline table, monthly paths, instrument mix and network of a finished pair."""
    paths = solara.use_memo(
        lambda: paths_figure(pair.baseline, pair.policy, lang),
        dependencies=[id(pair), lang],
    )
    mix = solara.use_memo(
        lambda: mix_figure(
            instrument_volumes(pair.baseline),
            instrument_volumes(pair.policy),
            lang,
            rates=(instrument_rates(pair.baseline), instrument_rates(pair.policy)),
        ),
        dependencies=[id(pair), lang],
    )
    groups = solara.use_memo(
        lambda: groups_figure(pair.baseline, pair.policy, lang),
        dependencies=[id(pair), lang],
    )
    with solara.Card(t("headline", lang), classes=["scf-headline-card"]):
        Headline(pair, lang)
        solara.Text(
            t("money_unit", lang) + " " + t("ran_in", lang, secs=pair.seconds),
            classes=["scf-timing"],
            style={"font-size": "12px"},
        )
    with solara.Card(t("costs", lang), classes=["scf-costs-card"]):
        CostTable(pair, lang)
    with solara.Card(t("paths", lang)):
        Plot(paths)
    with solara.Card(t("mix", lang)):
        Plot(mix)
    with solara.Card(t("by_group", lang), classes=["scf-groups"]):
        Plot(groups)
    with solara.Card(t("network", lang), classes=["scf-network"]):
        NetworkView(pair, lang)


@solara.component
def Page():
    """The dashboard page; all state is per browser session (hooks, not module globals)."""
    lang, set_lang = solara.use_state("en")
    first = solara.use_memo(initial_settings, dependencies=[])
    draft, set_draft = solara.use_state(first)
    applied, set_applied = solara.use_state(first)
    stage, set_stage = solara.use_state("")
    cache: dict = solara.use_memo(dict, dependencies=[])  # this session's baseline run

    def compute() -> Pair:
        return run_pair(applied, cache, on_stage=set_stage)

    task = use_task(compute, dependencies=[applied.key()])

    def on_baseline(key: str) -> None:
        s = dataclasses.replace(draft, baseline=key)
        s.levers = lever_values(baseline_config(s))
        set_draft(s)

    def on_reset() -> None:
        set_draft(dataclasses.replace(draft, levers=lever_values(baseline_config(draft))))

    def on_run() -> None:
        set_applied(dataclasses.replace(draft, levers=dict(draft.levers)))
        if draft.key() == applied.key():
            task()  # same settings: run again on demand

    solara.Title(t("title", lang))
    solara.Style(FONT_CSS)  # Noto Sans SC from the offline cache: Chinese without system fonts
    with solara.AppBar():
        LanguageSwitch(lang, set_lang)
    with solara.Sidebar(), solara.Column(classes=["scf-controls"]):
        solara.Button(
            t("run", lang),
            on_click=on_run,
            color="primary",
            disabled=task.pending,
            classes=["scf-run"],
        )
        Controls(draft, set_draft, lang, on_baseline, on_reset)
        PolicyLoader(draft, set_draft, lang)
        Export(draft, lang)
    with solara.Column(classes=["scf-main"]):
        solara.Markdown(f"## {t('title', lang)}\n{t('subtitle', lang)}")
        if task.pending:
            solara.ProgressLinear(True)
            est = estimate_seconds(task.latest, applied)
            note = f" ({t('estimate', lang, secs=est)})" if est and est > 3 else ""
            what = t(f"stage_{stage}", lang) if stage else ""
            solara.Text(f"{t('running', lang)} {what} ...{note}", classes=["scf-running"])
        elif draft.key() != applied.key():
            solara.Info(t("stale", lang), classes=["scf-stale"])
        if task.error:
            solara.Error(f"{t('error', lang)}: {task.exception}", classes=["scf-error"])
        elif task.latest is not None:
            Results(task.latest, lang)
