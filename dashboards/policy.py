"""Policy design on the dashboard: load a found policy, see what each lever costs, read Chinese.

- `PolicyLoader`: a scenario file written by `scf optimize` (a Pareto point, `points/trial-N.yaml`)
  or `scf discover --save` (a box centre, `box-K.yaml`), or any scenario file, becomes the policy:
  its lever values (and its population size and horizon) replace the controls', the baseline
  stays. Press Run to compute it.
- `CostTable`: the public cost of baseline and policy item by item (`simulation.costs`).
- `FONT_CSS`: Noto Sans SC (SIL Open Font License) from the offline asset cache
  (`dashboards.assets`), so Chinese labels render on machines without CJK system fonts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import reacton.ipyvuetify as v
import solara

from dashboards.controls import Settings, lever_values
from dashboards.i18n import t
from dashboards.results import Pair
from simulation.config import ScenarioConfig
from simulation.costs import COST_ITEMS
from simulation.scenario import ConfigError, load_scenario

FONT_FOLDER = "@fontsource/noto-sans-sc@5.3.0"
FONT_CSS = f"""
@import url("/_solara/cdn/{FONT_FOLDER}/400.css");
body, .v-application, .v-application .v-btn, .v-application input {{
  font-family: Roboto, "Noto Sans SC", sans-serif !important;
}}
"""


def policy_settings(draft: Settings, path: str | Path) -> Settings:
    """`draft` with the levers, population size and horizon of the scenario file at `path`."""
    cfg: ScenarioConfig = load_scenario(path)
    return dataclasses.replace(
        draft, levers=lever_values(cfg), n_smes=int(cfg.population.n_smes),
        months=int(cfg.months),
    )  # fmt: skip


@solara.component
def PolicyLoader(draft: Settings, set_draft: Callable[[Settings], None], lang: str):
    """A path field and a button that load a scenario file's levers as the policy."""
    path, set_path = solara.use_state("")
    message, set_message = solara.use_state("")

    def load() -> None:
        try:
            set_draft(policy_settings(draft, path.strip()))
            set_message(t("policy_loaded", lang, name=Path(path.strip()).name))
        except (ConfigError, ValueError, OSError) as exc:
            set_message(f"{t('error', lang)}: {exc}")

    with solara.Column(gap="2px", classes=["scf-load-policy"]):
        solara.InputText(t("policy_file", lang), value=path, on_value=set_path,
                         continuous_update=True)  # fmt: skip
        solara.Button(t("load_policy", lang), on_click=load, text=True,
                      disabled=not path.strip(), classes=["scf-load-policy-button"])  # fmt: skip
        if message:
            solara.Text(message, classes=["scf-load-policy-message"],
                        style={"font-size": "12px"})  # fmt: skip


def money(x: float, sign: bool = False) -> str:
    """10k CNY: whole numbers from 100 up, one decimal below (running costs are small)."""
    spec = ("+" if sign else "") + (",.0f" if abs(x) >= 100 else ",.1f")
    return format(x, spec)


@solara.component
def CostTable(pair: Pair, lang: str):
    """Public cost of baseline and policy by item, and the difference (10k CNY, whole run)."""
    base, pol = pair.baseline.summary, pair.policy.summary
    pad = "padding: 2px 10px; text-align: "
    head = [
        v.Html(tag="th", children=[t(h, lang)], style_=pad + ("left" if i == 0 else "right"))
        for i, h in enumerate(("cost_item", "baseline", "policy", "difference"))
    ]
    rows = [v.Html(tag="tr", children=head)]
    for item in ("total", *COST_ITEMS):
        key = "public_cost" if item == "total" else f"public_cost_{item}"
        b, p = float(base.get(key) or 0.0), float(pol.get(key) or 0.0)
        if item != "total" and abs(b) < 1e-9 and abs(p) < 1e-9:
            continue
        weight = "; font-weight: 600" if item == "total" else ""
        cells = [
            v.Html(tag="td", children=[t(f"cost_{item}", lang)], class_=f"scf-cost-label-{item}",
                   style_=pad + "left" + weight),
            v.Html(tag="td", children=[money(b)], style_=pad + "right" + weight),
            v.Html(tag="td", children=[money(p)], class_=f"scf-cost-policy-{item}",
                   style_=pad + "right" + weight),
            v.Html(tag="td", children=[money(p - b, True)], style_=pad + "right" + weight),
        ]  # fmt: skip
        rows.append(v.Html(tag="tr", children=cells))
    v.Html(tag="table", children=rows, class_="scf-costs",
           style_="border-collapse: collapse; width: 100%")  # fmt: skip
