"""`scf calibrate`: ABC-SMC (pyabc) over a targets file's free parameters, resumable and
reproducible.

Each parameter draw runs the fitted targets' scenarios on the same seeds (paired), through
`run_one`, on local Dask worker processes or an existing cluster. pyabc's own samplers accept
whichever draws finish first and reseed workers from the clock, so two runs never agree; our
`OrderedSampler` instead gives candidate i of generation t the seed (seed, t, i), evaluates
candidates in batches on the cluster, and accepts them in index order. The posterior is then
the same with any number of workers, batch size or cluster, and after any interruption: every
generation starts from pyabc's database in --out (uninterrupted runs take that path too), and a
generation cut short is simply run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.targets import Prior, Target, Targets
from simulation.config import ScenarioConfig, set_dotted
from simulation.scenario import ConfigError

DB_NAME, STATE_NAME = "abc.db", "calibration.json"
PENALTY = 1e9  # distance of a draw whose quantity the model cannot compute (e.g. no loans)


# ----------------------------------------------------------------------------- the model


def run_seeds(configs: dict[str, ScenarioConfig], overrides: dict[str, Any],
              targets: tuple[Target, ...], months: int, seeds: list[int]) -> np.ndarray:
    """Targets' values (rows: seeds, columns: targets), each seed running every scenario the
    targets need with the same seed (paired)."""
    from simulation.runner import run_one
    from simulation.scenario import with_overrides

    needed = [k for k in configs if any(k in t.scenarios for t in targets)]
    cfgs = {k: with_overrides(configs[k], overrides) if overrides else configs[k]
            for k in needed}
    out = np.empty((len(seeds), len(targets)))
    for i, seed in enumerate(seeds):
        results = {k: run_one(cfgs[k], seed, months) for k in needed}
        out[i] = [t.value(results) for t in targets]
    return out


class DrawFailed(RuntimeError):
    """A model run raised for one parameter draw: a model error, not a user mistake."""


@dataclass
class Simulator:
    """pyabc's model: a parameter draw -> the fitted targets' values, averaged over seeds.

    The runs' seeds come from NumPy's global generator, which the sampler seeds per candidate.
    """

    configs: dict[str, ScenarioConfig]
    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    months: int
    seeds_per_draw: int

    def __call__(self, par: dict[str, float]) -> dict[str, float]:
        first = int(np.random.randint(0, 2**31 - 1 - self.seeds_per_draw))
        overrides = {p.path: p.from_internal(float(par[p.key])) for p in self.priors}
        seeds = list(range(first, first + self.seeds_per_draw))
        try:
            values = run_seeds(self.configs, overrides, self.targets, self.months, seeds)
        except Exception as exc:  # say which draw; the run stops (a model error is not data)
            text = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise DrawFailed(f"a run failed at {overrides}, seeds {seeds}: {text}") from None
        return {t.name: float(np.mean(values[:, j])) for j, t in enumerate(self.targets)}


@dataclass
class Distance:
    """Weighted Euclidean distance in tolerances; thresholds count only when missed."""

    targets: tuple[Target, ...]

    def __call__(self, x: dict[str, float], x_0: dict[str, float]) -> float:
        total = 0.0
        for t in self.targets:
            d = t.distance(float(x[t.name]))
            if not math.isfinite(d):
                return PENALTY
            total += t.spec.weight * d * d
        return math.sqrt(total)


# ----------------------------------------------------------------------------- the sampler

_CACHE: dict[str, Callable[[], Any]] = {}


def _simulate_batch(blob: bytes, key: str, seeds: list[int]) -> list[Any]:
    """A Dask task: evaluate candidates, each after seeding NumPy and `random` with its seed."""
    import cloudpickle

    simulate_one = _CACHE.get(key)
    if simulate_one is None:
        _CACHE.clear()
        simulate_one = _CACHE[key] = cloudpickle.loads(blob)
    out = []
    for s in seeds:
        np.random.seed(s)
        random.seed(s)
        out.append(simulate_one())
    return out


def candidate_seed(seed: int, t: int, i: int) -> int:
    """The seed of candidate i of generation t: the same wherever and whenever it runs."""
    return int(np.random.SeedSequence([seed, t, i]).generate_state(1)[0])


def _sampler_class() -> type:
    from pyabc.sampler import Sampler

    class OrderedSampler(Sampler):
        """Candidates seeded by index, run in batches, accepted in index order."""

        def __init__(self, seed: int, batch: int, client: Any = None,
                     on_batch: Callable[[int, int, int], None] | None = None) -> None:
            super().__init__()
            self.seed, self.batch, self.client, self.on_batch = seed, batch, client, on_batch
            self.limit = math.inf  # most candidates this generation may evaluate

        def _batches(self, blob: bytes, t: int) -> Iterator[list[Any]]:
            key = hashlib.sha1(blob).hexdigest()

            def seeds(b: int) -> list[int]:
                return [candidate_seed(self.seed, t, b * self.batch + j) for j in range(self.batch)]

            if self.client is None:
                b = 0
                while True:
                    yield _simulate_batch(blob, key, seeds(b))
                    b += 1
            workers = max(1, len(self.client.scheduler_info()["workers"]))
            window = 2 * workers + 1
            shared = self.client.scatter(blob, broadcast=True, hash=False)
            pending: dict[int, Any] = {}
            b = 0
            try:
                while True:
                    while len(pending) < window:
                        pending[b + len(pending)] = self.client.submit(
                            _simulate_batch, shared, key, seeds(b + len(pending)), pure=False)
                    yield pending.pop(b).result()
                    b += 1
            finally:
                self.client.cancel(list(pending.values()))

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf,
                                    all_accepted=False, ana_vars=None):
            import cloudpickle

            sample = self._create_empty_sample()
            blob = cloudpickle.dumps(simulate_one)
            evaluated = accepted = 0
            cap = min(max_eval, self.limit)
            batches = self._batches(blob, t)
            try:
                for particles in batches:
                    for particle in particles:
                        if accepted >= n or evaluated >= cap:
                            break
                        sample.append(particle)
                        evaluated += 1
                        accepted += bool(particle.accepted)
                    if self.on_batch is not None:
                        self.on_batch(t, accepted, evaluated)
                    if accepted >= n or evaluated >= cap:
                        break
            finally:
                batches.close()
            self.nr_evaluations_ = evaluated
            if accepted < n:
                sample.ok = False
            return sample

    return OrderedSampler


# ----------------------------------------------------------------------------- the run


def fingerprint(targets: Targets) -> dict[str, Any]:
    """What makes two calibrations the same: the validated file (its stopping rules, batch size
    and description aside, which change no draw), the resolved scenarios and the horizon."""
    spec = targets.spec.model_dump(mode="json", by_alias=True)
    spec.pop("description", None)
    for key in ("budget", "generations", "batch"):
        spec["abc"].pop(key, None)
    configs = {k: _masked(c.model_dump(mode="json"), targets.priors)
               for k, c in targets.configs.items()}
    content = json.dumps([spec, configs, targets.months], sort_keys=True)
    return {"sha256": hashlib.sha256(content.encode()).hexdigest(), "seed": targets.spec.abc.seed}


def _masked(config: dict[str, Any], priors: tuple[Prior, ...]) -> dict[str, Any]:
    """A scenario with its free parameters blanked: every draw sets them, so their values in the
    scenario change no draw (a baseline that adopts the posterior medians keeps its fit)."""
    for p in priors:
        set_dotted(config, p.path, None)
    return config


def _check_out(out: Path, targets: Targets) -> bool:
    """True when `out` holds this calibration already (resume); refuses another's database."""
    state, db = out / STATE_NAME, out / DB_NAME
    if not db.exists():
        return False
    try:
        stored = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"--out {out}: holds {DB_NAME} without a readable {STATE_NAME}; use "
                          f"another directory") from None
    if stored.get("fingerprint") != fingerprint(targets):
        raise ConfigError(f"--out {out}: holds a calibration of another targets file or other "
                          f"ABC settings ({stored.get('targets', '?')}); use another directory")
    return True


def next_epsilon(db: str, alpha: float) -> float:
    """The next generation's tolerance: the alpha-quantile of the last generation's weighted
    distances (never above its own tolerance); infinite before the first generation, which is
    then the prior. Computed from the database alone, so a resumed run computes the same."""
    import pyabc

    history = pyabc.History(db, _id=1)
    if history.max_t < 0:
        return math.inf
    last = history.get_weighted_distances(t=history.max_t)
    q = float(pyabc.weighted_quantile(last["distance"].to_numpy(float),
                                      last["w"].to_numpy(float), alpha=alpha))
    return min(q, float(history.get_all_populations().epsilon.iloc[-1]))


def _make_abc(targets: Targets, sampler: Any, epsilon: float = math.inf) -> Any:
    import pyabc

    fitted = targets.of_role("fitted")
    scen = targets.scenarios_for(fitted)
    configs = {k: targets.configs[k] for k in scen}
    priors = pyabc.Distribution(**{
        p.key: pyabc.RV("uniform", lo, hi - lo)
        for p in targets.priors for lo, hi in [p.internal_bounds]
    })  # fmt: skip
    abc = targets.spec.abc
    return pyabc.ABCSMC(
        Simulator(configs, targets.priors, fitted, targets.horizon_for(fitted), abc.seeds_per_draw),
        priors,
        Distance(fitted),
        population_size=abc.population,
        eps=pyabc.QuantileEpsilon(initial_epsilon=epsilon, alpha=abc.alpha),
        sampler=sampler,
    )


@dataclass
class Generation:
    """One finished generation, as progress reports it."""

    t: int
    epsilon: float
    accepted: int
    evaluated: int
    total: int  # draws evaluated in all generations so far


@dataclass
class CalibrationRun:
    """What `calibrate` did: the generations in the database and how long this call took."""

    out: Path
    generations: list[Generation]
    resumed_from: int  # generations already in the database when this call began
    draws_now: int  # draws evaluated by this call (including a generation cut by the budget)
    seconds: float
    stopped: str  # why no further generation ran


def _quiet_pyabc() -> None:
    """pyabc logs every generation at INFO from its import on; our progress replaces that."""
    import pyabc  # noqa: F401  (its import sets the level that is lowered here)

    logging.getLogger("ABC").setLevel(logging.WARNING)


def _generations(db: str) -> list[Generation]:
    import pyabc

    history = pyabc.History(db, _id=1)
    pops = history.get_all_populations()
    out, total = [], 0
    for row in pops.itertuples():
        if row.t < 0:
            continue
        total += int(row.samples)
        out.append(Generation(int(row.t), float(row.epsilon), int(row.particles),
                              int(row.samples), total))
    return out


def next_generation_cost(done: list[Generation], population: int) -> float:
    """Draws the next generation is expected to need: the population over the acceptance
    rate, which is taken to fall again by the factor it last fell (it only falls as the
    tolerance tightens); 0 before the first generation."""
    if not done:
        return 0.0
    rate = done[-1].accepted / done[-1].evaluated
    if len(done) >= 3:  # generation 0 is the prior (all accepted): no trend before 2
        before = done[-2].accepted / done[-2].evaluated
        rate *= min(1.0, rate / before)
    return population / max(rate, 1e-9)


@contextmanager
def open_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client (local processes, or the cluster at `scheduler`), or None for
    `workers=0`: evaluate in this process."""
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers: must be >= 0 (got {workers})")
    if workers == 0 and scheduler is None:
        yield None
        return
    from analysis.cluster import dask_client

    with dask_client(workers, scheduler) as client:
        yield client


def calibrate(
    targets: Targets,
    out: str | Path,
    *,
    budget: int | None = None,
    client: Any = None,
    on_generation: Callable[[Generation, float], None] | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> CalibrationRun:
    """Run ABC-SMC generations into `out` until the budget of draws or the generation limit.

    Draws are evaluated on `client` (a Dask client, see `open_client`), or in this process when
    it is None. Resumes from `out` when it holds the same calibration. `on_generation(gen,
    draws_per_second)` is called after each generation, `on_batch(t, accepted, evaluated)` as
    candidates come back.
    """
    abc_spec = targets.spec.abc
    budget = abc_spec.budget if budget is None else budget
    if budget < abc_spec.population:
        raise ConfigError(f"--budget: must be at least the population, {abc_spec.population} "
                          f"(got {budget})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    resume = _check_out(out, targets)
    out.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{(out / DB_NAME).resolve()}"
    _quiet_pyabc()
    start = time.perf_counter()
    before = _generations(db) if resume else []
    draws_now = 0
    stopped = ""
    sampler = _sampler_class()(abc_spec.seed, abc_spec.batch, client, on_batch)
    if not resume:
        state = {"targets": str(targets.path), "baseline": targets.spec.baseline,
                 "fingerprint": fingerprint(targets)}
        (out / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        _make_abc(targets, sampler).new(db, {t.name: t.spec.value
                                             for t in targets.of_role("fitted")})
    while True:
        done = _generations(db)
        total = done[-1].total if done else 0
        if len(done) >= abc_spec.generations:
            stopped = f"the generation limit ({abc_spec.generations})"
            break
        if total >= budget:
            stopped = f"the budget ({budget:,} draws)"
            break
        need = next_generation_cost(done, abc_spec.population)
        if total + need > budget:  # it would be cut short: its draws would be wasted
            stopped = (f"the budget ({budget:,} draws): the next generation needs about "
                       f"{need:,.0f} more, {budget - total:,} are left")
            break
        abc = _make_abc(targets, sampler, next_epsilon(db, abc_spec.alpha))
        abc.load(db, 1)
        sampler.limit = budget - total
        t0 = time.perf_counter()
        abc.run(max_nr_populations=1)
        now = _generations(db)
        draws_now += sampler.nr_evaluations_
        if len(now) == len(done):
            stopped = f"the budget ({budget:,} draws), within generation {len(done)}"
            break
        if on_generation is not None:
            on_generation(now[-1], now[-1].evaluated / max(time.perf_counter() - t0, 1e-9))
    return CalibrationRun(out, _generations(db), len(before), draws_now,
                          time.perf_counter() - start, stopped)


def last_population(out: str | Path, targets: Targets) -> Any:
    """The last generation's particles in schema units: a DataFrame of parameter paths plus
    `weight` (summing to 1), `distance` and `generation`."""
    import pandas as pd
    import pyabc

    history = pyabc.History(f"sqlite:///{(Path(out) / DB_NAME).resolve()}", _id=1)
    t = history.max_t
    if t < 0:
        raise ConfigError(f"{out}: no finished generation yet; run scf calibrate first")
    particles = history.get_population(t=t).particles
    out_frame = pd.DataFrame({
        p.path: [p.from_internal(float(q.parameter[p.key])) for q in particles]
        for p in targets.priors
    })  # fmt: skip
    w = np.array([q.weight for q in particles], float)
    out_frame["weight"] = w / w.sum()
    out_frame["distance"] = [float(q.distance) for q in particles]
    out_frame["generation"] = t
    return out_frame
