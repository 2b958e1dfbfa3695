"""SCF-Sim's model: scenario schema, supply networks, agents, financing market and run_one."""

from simulation.config import ScenarioConfig
from simulation.runner import RunResult, run_one

__all__ = ["RunResult", "ScenarioConfig", "run_one"]
