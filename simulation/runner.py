"""`run_one`: the single entry point that the CLI, the batch runner and the dashboard share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulation.config import ScenarioConfig
from simulation.metrics import STATUS
from simulation.model import SCFModel


@dataclass
class RunResult:
    """A finished run: tidy monthly frame, summary, and what produced them."""

    config: ScenarioConfig
    seed: int
    months: int
    monthly: pd.DataFrame
    summary: dict[str, Any]
    status: np.ndarray = field(repr=False)  # (months, n_smes) int8 codes of STATUS

    def network_frame(self) -> pd.DataFrame:
        """Per SME per month status (funded, rationed, no_need, defaulted) for replays."""
        m, n = self.status.shape
        return pd.DataFrame({
            "month": np.repeat(np.arange(1, m + 1), n),
            "sme": np.tile(np.arange(n), m),
            "status": pd.Categorical.from_codes(self.status.ravel(), STATUS),
        })


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_one(config: ScenarioConfig, seed: int, months: int | None = None) -> RunResult:
    """Simulate one scenario for `months` (default: the scenario's) with one seed.

    Pure: no I/O and no global state, so it is safe to ship to Dask workers. The same
    configuration and seed give bit-identical results on any machine.
    """
    months = config.months if months is None else int(months)
    if months < 1:
        raise ValueError("months must be >= 1")
    model = SCFModel(config, seed=int(seed))
    for _ in range(months):
        model.step()
    rec = model.recorder
    return RunResult(config=config, seed=int(seed), months=months, monthly=rec.frame(),
                     summary=_clean(rec.summary()), status=np.stack(rec.status))
