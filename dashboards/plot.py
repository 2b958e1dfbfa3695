"""Plotly figures drawn by one shared copy of plotly.js, instead of one FigureWidget each.

`solara.FigurePlotly` makes a plotly `FigureWidget`, an anywidget that carries its own 5 MB copy
of plotly.js in its state: every figure on the page sent and compiled those 5 MB again (measured
here: 11 s of browser CPU before the first results showed, on a busy 2-core machine). This
component sends only the figure's JSON; the browser loads plotly.js once, from Solara's asset
cache (the file plotly.py ships, copied there by `dashboards.assets`), and draws with
`Plotly.react`, which also updates a figure in place when its JSON changes.
"""

from __future__ import annotations

import json

import ipyvue
import plotly.graph_objects as go
import solara
import traitlets

from dashboards.assets import PLOTLY_JS_PATH, ensure_plotly_js


class _PlotlyView(ipyvue.VueTemplate):
    """A div drawn by `Plotly.react(div, spec.data, spec.layout)`; plotly.js loaded once."""

    spec = traitlets.Dict().tag(sync=True)
    path = traitlets.Unicode(PLOTLY_JS_PATH).tag(sync=True)
    template = traitlets.Unicode(
        """<template><div style="width: 100%"></div></template>
<script>
module.exports = {
  mounted() { this.draw(0); },
  watch: { spec() { this.draw(0); } },
  beforeDestroy() { if (window.Plotly) { window.Plotly.purge(this.$el); } },
  methods: {
    plotly() {
      if (window.Plotly) { return Promise.resolve(window.Plotly); }
      if (!window.scfPlotlyLoading) {
        const cdn = (window.solara_cdn || "/_solara/cdn").replace(/\\/$/, "");
        window.scfPlotlyLoading = new Promise((resolve, reject) => {
          const s = document.createElement("script");
          s.src = cdn + "/" + this.path;
          s.onload = () => resolve(window.Plotly);
          s.onerror = reject;
          document.head.appendChild(s);
        });
      }
      return window.scfPlotlyLoading;
    },
    draw(tries) {
      if (this.$el.clientWidth === 0 && tries < 50) {
        requestAnimationFrame(() => this.draw(tries + 1));  // not laid out yet
        return;
      }
      this.plotly().then((Plotly) => {
        Plotly.react(this.$el, this.spec.data || [], this.spec.layout || {},
                     {responsive: true, displaylogo: false});
      });
    },
  },
};
</script>"""
    ).tag(sync=True)


@solara.component
def Plot(fig: go.Figure):
    """Show a plotly figure (its JSON only; see the module docstring)."""
    solara.use_memo(ensure_plotly_js, dependencies=[])  # cheap when already cached
    spec = solara.use_memo(lambda: json.loads(fig.to_json()), dependencies=[fig])
    return _PlotlyView.element(spec=spec)
