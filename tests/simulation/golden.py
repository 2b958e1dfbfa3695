"""Golden-baseline summaries: fixed scenarios and seeds whose results are stored as JSON.

Drift is a decision, never an accident: after an intended change to the model, regenerate with
`.venv/bin/python -m tests.simulation.golden` and commit the new JSON with a message saying why.
"""

from __future__ import annotations

import json
from pathlib import Path

from simulation import run_one
from simulation.scenario import load_scenario

GOLDEN_DIR = Path(__file__).parent / "golden"
CASES = {  # name -> (scenario, overrides, seed, months)
    "core_led": ("baselines/core_led", {"population.n_smes": 400}, 11, 18),
    "mixed": ("baselines/core_led", {"population.n_smes": 700, "chain.type": "mixed"}, 12, 18),
}


def compute(name: str) -> dict:
    scenario, overrides, seed, months = CASES[name]
    return run_one(load_scenario(scenario, overrides), seed, months).summary


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name in CASES:
        path = GOLDEN_DIR / f"{name}.json"
        path.write_text(json.dumps(compute(name), indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
