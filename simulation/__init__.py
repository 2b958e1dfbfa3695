"""SCF-Sim's model: scenario schema, supply networks, agents, financing market and run_one.

`run_one`, `RunResult` and `ScenarioConfig` load on first use, so that light commands (help,
validation) do not pay for importing Mesa.
"""

from typing import Any

__all__ = ["RunResult", "ScenarioConfig", "run_one"]


def __getattr__(name: str) -> Any:
    if name == "ScenarioConfig":
        from simulation.config import ScenarioConfig

        return ScenarioConfig
    if name in ("run_one", "RunResult"):
        from simulation import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'simulation' has no attribute {name!r}")
