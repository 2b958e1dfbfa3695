"""A run's numbers do not depend on how many threads numba, OpenMP or BLAS may use.

The compiled loops are serial and add in a fixed order, and the model makes no threaded NumPy
call (no BLAS product). This holds that in place: a later parallel loop or threaded reduction
whose sums followed the thread count would make it fail.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
RUN = "import numba; from tests.simulation.test_threads import run_digest; " \
      "print(run_digest(), numba.get_num_threads())"


def run_digest() -> str:
    """SHA-256 of a Shanghai run's balances, monthly frame and SME statuses (3,000 SMEs, the
    month's draws in their compiled loop; 8 months)."""
    import numpy as np

    from simulation.model import SCFModel
    from simulation.scenario import load_scenario

    m = SCFModel(load_scenario("baselines/shanghai", {"population.n_smes": 3000}), seed=7)
    for _ in range(8):
        m.step()
    h = hashlib.sha256(m.ledger.balance.tobytes())
    h.update(m.recorder.frame().to_csv().encode())
    h.update(np.stack(m.recorder.status).tobytes())
    return h.hexdigest()


def _digest_with_threads(threads: int) -> tuple[str, int]:
    env = os.environ | {var: str(threads) for var in THREAD_VARS}
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    digest, seen = out.stdout.split()
    return digest, int(seen)


@pytest.mark.slow
def test_a_run_is_the_same_on_one_thread_and_on_several():
    (one, one_seen), (two, two_seen) = _digest_with_threads(1), _digest_with_threads(2)
    assert (one_seen, two_seen) == (1, 2)  # the settings took effect
    assert one == two == run_digest()
