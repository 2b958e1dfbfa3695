"""Components rendered in-process (no browser): controls from the schema, table, languages."""

from __future__ import annotations

import ipyvuetify as vw
import pytest
import solara

from dashboards.app import initial_settings
from dashboards.components import Controls, Headline, css
from dashboards.controls import LEVERS
from dashboards.i18n import t
from dashboards.results import INDICATORS, fmt_value, headline, run_pair


@pytest.fixture(scope="module")
def pair():
    s = initial_settings()
    s.n_smes, s.months = 120, 6
    return run_pair(s)


def _render(element):
    box, rc = solara.render(element, handle_error=False)
    return box, rc


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", None) or []:
        if hasattr(child, "keys"):
            yield from _walk(child)


def _with_class(root, token: str, kind=object) -> list:
    """Widgets of type `kind` under `root` whose CSS classes include `token`."""
    return [
        w
        for w in _walk(root)
        if isinstance(w, kind) and token in (getattr(w, "class_", None) or "").split()
    ]


def _inside(root, kind) -> list:
    return [w for w in _walk(root) if isinstance(w, kind)]


def test_controls_render_one_control_per_lever_in_both_languages():
    s = initial_settings()
    for lang in ("en", "zh"):
        root, rc = _render(Controls(s, lambda _: None, lang, lambda _: None, lambda: None))
        for lever in LEVERS:
            (box,) = _with_class(root, f"scf-lever-{css(lever.path)}")
            kind = vw.Switch if lever.kind in ("bool", "waiver") else vw.Slider
            (control,) = _inside(box, kind)
            if kind is vw.Slider:
                assert (control.min, control.max) == lever.bounds
            assert t(lever.path, lang) in (control.label or "") + " ".join(
                str(w.children[0]) for w in _inside(box, vw.Html) if w.children
            )
        rc.close()


def test_moving_a_slider_reports_the_new_lever_value():
    s = initial_settings()
    seen = []
    root, rc = _render(Controls(s, seen.append, "en", lambda _: None, lambda: None))
    (box,) = _with_class(root, "scf-lever-core-confirm_willingness")
    (slider,) = _inside(box, vw.Slider)
    slider.v_model = 0.75
    assert seen and seen[-1].levers["core.confirm_willingness"] == 0.75
    assert seen[-1].levers["core.data_sharing"] == s.levers["core.data_sharing"]
    rc.close()


def test_headline_shows_baseline_policy_and_difference(pair):
    root, rc = _render(Headline(pair, "zh"))
    base, pol = headline(pair.baseline), headline(pair.policy)
    for key, kind in INDICATORS:
        (cell,) = _with_class(root, f"scf-base-{key}")
        assert cell.children == [fmt_value(kind, base[key])]
        (cell,) = _with_class(root, f"scf-policy-{key}")
        assert cell.children == [fmt_value(kind, pol[key])]
        (label,) = _with_class(root, f"scf-label-{key}")
        assert label.children == [t(key, "zh")]
    rc.close()


def test_plot_sends_the_figure_json_not_a_widget_bundle(pair, tmp_path, monkeypatch):
    from dashboards import plot
    from dashboards.figures import mix_figure
    from dashboards.results import instrument_volumes

    monkeypatch.setattr(plot, "ensure_plotly_js", lambda: tmp_path)
    fig = mix_figure(instrument_volumes(pair.baseline), instrument_volumes(pair.policy), "en")
    root, rc = _render(plot.Plot(fig))
    (view,) = [w for w in _walk(root) if isinstance(w, plot._PlotlyView)]
    assert [tr["type"] for tr in view.spec["data"]] == ["bar", "bar"]
    assert view.path.endswith("plotly.min.js")
    rc.close()


def test_groups_figure_shows_access_by_size_and_risk_for_both_runs(pair):
    from dashboards.figures import BREAKDOWN_GROUPS, groups_figure

    fig = groups_figure(pair.baseline, pair.policy, "en")
    assert [tr.name for tr in fig.data] == ["Baseline", "Policy"]
    for trace, run in zip(fig.data, (pair.baseline, pair.policy), strict=True):
        assert list(trace.y) == [t(g, "en") for g in BREAKDOWN_GROUPS]
        by = run.summary["by_group"]
        assert list(trace.x) == [by[g]["credit_access_rate"] for g in BREAKDOWN_GROUPS]
    zh = groups_figure(pair.baseline, pair.policy, "zh")
    assert zh.data[0].y[0] == t("size_micro", "zh") != t("size_micro", "en")
