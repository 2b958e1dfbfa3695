"""The results store: one Parquet file per run, content-addressed, safe to interrupt.

Layout of a store directory (see docs/STORE.md for how to read it from pandas, pyarrow, DuckDB):

    store.json                  marks the directory as a store (format version)
    runs/<run_id>.parquet       a finished run: its monthly tidy table; its summary and resolved
                                configuration ride in the file's key-value metadata (key `scf`)
    failed/<run_id>.json        a run that raised: its configuration, error and traceback
    experiments/<name>.parquet  an experiment's plan: one row per run with its labels
    log.jsonl                   timings (not part of the results; may end in a partial line)
    tmp/                        files being written; emptied when a batch starts
    damaged/<run_id>.parquet    run files that failed their check, set aside (then recomputed)

Every file is written under tmp/ and renamed into place, so a kill at any moment leaves only
complete files. Run files, plans and failure records are sealed (analysis/integrity.py) and
checked before they are trusted: a damaged run is recomputed by the next batch and refused,
with one line naming it, by every loader. A run's id is a hash of (resolved configuration,
seed, months), so a finished run is never computed twice, and a run file's bytes depend only
on what was computed: the same experiment gives byte-identical run files whichever worker,
cluster or resume produced them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from analysis.integrity import (
    Damaged,
    check_parquet,
    check_record,
    read_bytes,
    read_checked,
    sealed_parquet,
    sealed_record,
)
from simulation.scenario import ConfigError

FORMAT = 1  # of the run ids' hash input: changing it changes every id
VERSION = 2  # of the store's layout; 2: sealed files
MARKER = "store.json"
RUNS, FAILED, EXPERIMENTS, TMP, DAMAGED = "runs", "failed", "experiments", "tmp", "damaged"
META_KEY = b"scf"
EXPERIMENT_KEY = b"scf.experiment"
LABELS = ["experiment", "scenario", "variant", "point", "seed", "months", "run_id", "scenario_id"]


# ----------------------------------------------------------------------------- hashing


def _digest(payload: dict[str, Any], length: int) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def run_id(config: dict[str, Any], seed: int, months: int) -> str:
    """The id (and file name) of one run: a hash of its resolved configuration, seed and months.

    `config` is the JSON form of the resolved ScenarioConfig without its `description`, which
    names a scenario but does not change what a run computes.
    """
    return _digest({"format": FORMAT, "config": config, "seed": seed, "months": months}, 20)


def scenario_id(config: dict[str, Any], months: int) -> str:
    """The id of a resolved configuration and horizon: the runs of all its seeds share it."""
    return _digest({"format": FORMAT, "config": config, "months": months}, 12)


# ----------------------------------------------------------------------------- flattening


def _flatten(data: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            _flatten(value, name, out)
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(value)
        else:
            out[name] = value


def flatten_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """One flat mapping: `by_group` entries lose the prefix (`tier1.credit_access_rate`).

    A metric the run could not measure (None in the summary, e.g. the rate of an instrument
    nobody used) becomes NaN, so the columns of `load_summaries` stay numeric.
    """
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "by_group" and isinstance(value, dict):
            _flatten(value, "", out)
        else:
            _flatten({key: value}, "", out)
    return {k: math.nan if v is None else v for k, v in out.items()}


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """Dotted parameter paths to values; list values become JSON text."""
    out: dict[str, Any] = {}
    _flatten(config, "", out)
    return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # NumPy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a run summary")


def _dumps(data: Any) -> str:
    """Compact JSON keeping the (deterministic) key order, so summaries keep the model's order."""
    return json.dumps(data, separators=(",", ":"), default=_jsonable)


# ----------------------------------------------------------------------------- the store


def encode_run(meta: dict[str, Any], monthly: pd.DataFrame, summary: dict[str, Any]) -> bytes:
    """A finished run as the bytes of its store file: the monthly table keyed by run, with the
    run's metadata and summary in the file's metadata.

    A pure function of its arguments, so workers encode in parallel and the client only writes
    bytes (measured: encoding took 10 of the client's 12 ms per stored run).
    """
    frame = monthly.reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "run_id": meta["run_id"],
            "scenario_id": meta["scenario_id"],
            "seed": pd.Series(meta["seed"], index=frame.index, dtype="int64"),
        },
        index=frame.index,
    )
    table = pa.Table.from_pandas(pd.concat([keys, frame], axis=1), preserve_index=False)
    record = {"format": FORMAT, **meta, "summary": summary}
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: _dumps(record).encode("utf-8")}
    )
    return sealed_parquet(table)


class Store:
    """A results directory; `create` makes one, `open` checks that a path is one."""

    def __init__(self, root: Path) -> None:
        """Wrap an existing store directory (use `create` or `open`)."""
        self.root = Path(root)

    @staticmethod
    def check_target(root: str | Path) -> None:
        """Refuse, before writing anything, a path that is neither a store nor empty."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root}: exists and is not a directory (choose another --out)")
        if root.is_dir() and not (root / MARKER).is_file() and any(root.iterdir()):
            raise ConfigError(
                f"{root}: exists, is not empty and is not an scf results store "
                f"(no {MARKER}); choose another --out"
            )

    @classmethod
    def create(cls, root: str | Path) -> Store:
        """Open `root` as a store, making it if absent; refuse a non-store, non-empty path."""
        root = Path(root)
        cls.check_target(root)
        if (root / MARKER).is_file():
            cls.open(root)  # refuses a damaged or foreign store.json
        for sub in (RUNS, FAILED, EXPERIMENTS, TMP):
            (root / sub).mkdir(parents=True, exist_ok=True)
        store = cls(root)
        if not (root / MARKER).is_file():
            store._write_text(
                root / MARKER, _dumps({"format": "scf-sim results", "version": VERSION}) + "\n"
            )
        return store

    @classmethod
    def open(cls, root: str | Path) -> Store:
        """An existing store, or a one-line ConfigError (also for a damaged store.json)."""
        root = Path(root)
        marker = root / MARKER
        if not marker.is_file():
            raise ConfigError(
                f"{root}: not an scf results store (no {MARKER}; "
                f"`scf batch EXPERIMENT --out {root}` makes one)"
            )
        try:
            info = json.loads(read_bytes(marker).decode("utf-8"))
            if not isinstance(info, dict) or info.get("format") != "scf-sim results":
                raise ValueError
        except (Damaged, ValueError):
            raise ConfigError(
                f"{marker}: damaged (expected {{\"format\": \"scf-sim results\", \"version\": "
                f"{VERSION}}}); restore it, or write to a new --out"
            ) from None
        version = info.get("version")
        if version != VERSION:
            older = " (written by an older scf, without integrity seals)" if version == 1 else ""
            raise ConfigError(
                f"{root}: store format {version!r} is not supported{older}; this scf reads "
                f"format {VERSION}: write to a new --out"
            )
        return cls(root)

    # -- writing ---------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's writer lock (released by the OS even on kill -9)."""
        try:
            handle = open(self.root / ".lock", "a")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise ConfigError(f"{self.root}: cannot write ({exc.strerror or exc})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"{self.root}: another scf batch is writing to this store"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def clean_tmp(self) -> int:
        """Remove leftovers of writes that a kill interrupted; returns how many."""
        leftovers = list((self.root / TMP).iterdir())
        for path in leftovers:
            path.unlink()
        return len(leftovers)

    def _atomic(self, final: Path, write: Callable[[Path], None]) -> None:
        tmp = self.root / TMP / f"{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            write(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _write_text(self, final: Path, text: str) -> None:
        self._atomic(final, lambda p: p.write_text(text, encoding="utf-8"))

    def write_run(
        self, meta: dict[str, Any], monthly: pd.DataFrame, summary: dict[str, Any]
    ) -> Path:
        """Store a finished run; `meta` has run_id, scenario_id, seed, months, config."""
        return self.write_encoded(meta["run_id"], encode_run(meta, monthly, summary))

    def write_encoded(self, rid: str, data: bytes) -> Path:
        """Store a finished run already encoded by `encode_run` (on a worker)."""
        final = self.root / RUNS / f"{rid}.parquet"
        self._atomic(final, lambda p: p.write_bytes(data))
        (self.root / FAILED / f"{rid}.json").unlink(missing_ok=True)
        return final

    def write_failure(self, meta: dict[str, Any], error: str, trace: str) -> Path:
        """Record a run that raised, with its error; it counts as finished until retried."""
        final = self.root / FAILED / f"{meta['run_id']}.json"
        record = {"format": FORMAT, **meta, "error": error, "traceback": trace}
        record = sealed_record(json.loads(json.dumps(record, default=_jsonable)))
        self._write_text(final, json.dumps(record, sort_keys=True, indent=1))
        return final

    def write_plan(self, name: str, description: str, source_text: str, plan: pd.DataFrame) -> Path:
        """Store an experiment's plan (one row per run, with its labels) as Parquet."""
        table = pa.Table.from_pandas(plan.reset_index(drop=True), preserve_index=False)
        info = _dumps({"name": name, "description": description, "source": source_text})
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), EXPERIMENT_KEY: info.encode("utf-8")}
        )
        final = self.root / EXPERIMENTS / f"{name}.parquet"
        data = sealed_parquet(table)
        self._atomic(final, lambda p: p.write_bytes(data))
        return final

    def append_log(self, record: dict[str, Any]) -> None:
        """Add a line to log.jsonl (timings; not part of the results)."""
        with open(self.root / "log.jsonl", "a", encoding="utf-8") as handle:
            handle.write(_dumps(record) + "\n")

    # -- reading ---------------------------------------------------------------------

    def done_ids(self) -> set[str]:
        """Ids of the runs stored as finished and ok."""
        return {p.stem for p in (self.root / RUNS).glob("*.parquet")}

    def failed_ids(self) -> set[str]:
        """Ids of the runs recorded as failed (and not since stored ok)."""
        return {p.stem for p in (self.root / FAILED).glob("*.json")} - self.done_ids()

    def run_path(self, rid: str) -> Path:
        """Where the run `rid` is stored when ok."""
        return self.root / RUNS / f"{rid}.parquet"

    def run_meta(self, rid: str) -> dict[str, Any]:
        """The checked metadata of a stored run: ids, seed, months, config, summary.

        Raises Damaged (with the reason) unless the file is whole and is the run its name says.
        """
        path = self.run_path(rid)
        try:
            return _run_record(check_parquet(read_bytes(path)), rid)
        except Damaged as exc:
            raise Damaged(exc.reason, path) from None

    def run_table(self, rid: str) -> pa.Table:
        """The checked monthly table of a stored run (seal and page checksums); or Damaged."""
        path = self.run_path(rid)
        try:
            table = read_checked(read_bytes(path))
            _run_record(table.schema, rid)
        except Damaged as exc:
            raise Damaged(exc.reason, path) from None
        return table

    def check_run(self, rid: str, full: bool = False) -> str | None:
        """Why the stored run `rid` cannot be trusted, or None when it can.

        The quick check reads the file and its seal; `full` also decodes every page (CRCs).
        """
        try:
            self.run_table(rid) if full else self.run_meta(rid)
        except Damaged as exc:
            return exc.reason
        return None

    def damaged_runs(self, ids: set[str] | None = None, full: bool = False) -> dict[str, str]:
        """Stored runs (of `ids`, default all) that fail their check: id -> reason."""
        ids = self.done_ids() if ids is None else ids & self.done_ids()
        found = {rid: self.check_run(rid, full) for rid in sorted(ids)}
        return {rid: why for rid, why in found.items() if why is not None}

    def set_aside(self, rid: str) -> None:
        """Move a damaged run file to damaged/ (kept to look at), so the run is pending again."""
        (self.root / DAMAGED).mkdir(exist_ok=True)
        os.replace(self.run_path(rid), self.root / DAMAGED / f"{rid}.parquet")

    def failure(self, rid: str) -> dict[str, Any]:
        """The checked record of a failed run: ids, seed, months, config, error, traceback."""
        path = self.root / FAILED / f"{rid}.json"
        try:
            record = check_record(read_bytes(path).decode("utf-8", "replace"))
        except Damaged as exc:
            raise Damaged(exc.reason, path) from None
        if record.get("run_id") != rid:
            raise Damaged(f"it holds run {str(record.get('run_id'))[:24]}, not {rid}", path)
        return record

    def damaged_failures(self, ids: set[str] | None = None) -> dict[str, str]:
        """Failure records (of `ids`, default all) that fail their check: id -> reason."""
        ids = self.failed_ids() if ids is None else ids & self.failed_ids()
        out = {}
        for rid in sorted(ids):
            try:
                self.failure(rid)
            except Damaged as exc:
                out[rid] = exc.reason
        return out

    def _plan_table(self, name: str) -> pa.Table:
        path = self.root / EXPERIMENTS / f"{name}.parquet"
        try:
            return read_checked(read_bytes(path))
        except Damaged as exc:
            raise ConfigError(
                f"{path}: damaged plan ({exc.reason}); run that experiment's `scf batch` again "
                f"to rewrite it"
            ) from None

    def experiment_names(self) -> list[str]:
        """Names of the experiments with a plan in the store (not yet checked), sorted."""
        return sorted(p.stem for p in (self.root / EXPERIMENTS).glob("*.parquet"))

    def experiments(self) -> dict[str, dict[str, Any]]:
        """Experiment name -> {name, description, source} for every (checked) plan in the store."""
        return {name: self.plan_info(name) for name in self.experiment_names()}

    def plan_info(self, name: str) -> dict[str, Any]:
        """{name, description, source} of one experiment's (checked) plan."""
        return json.loads((self._plan_table(name).schema.metadata or {})[EXPERIMENT_KEY])

    def plan(self, experiment: str | None = None) -> pd.DataFrame:
        """The plans' rows (labels of every planned run) with a `status` column.

        `status` is `ok` (stored), `failed` (recorded with its error) or `pending`.
        """
        stored = self.experiment_names()
        names = stored if experiment is None else [experiment]
        if experiment is not None and experiment not in stored:
            known = ", ".join(stored) or "none"
            raise ConfigError(f"{self.root}: no experiment named {experiment!r} (stored: {known})")
        frames = [self._plan_table(n).to_pandas() for n in names]
        if not frames:
            return pd.DataFrame(columns=[*LABELS, "status"])
        plan = pd.concat(frames, ignore_index=True)
        done, failed = self.done_ids(), self.failed_ids()
        plan["status"] = [
            "ok" if r in done else "failed" if r in failed else "pending" for r in plan.run_id
        ]
        return plan


# ----------------------------------------------------------------------------- loading


def _refuse_damaged(store: Store, damaged: dict[str, str], what: str = "run") -> None:
    """One line naming the damaged files (the first three) and how to recompute them."""
    if not damaged:
        return
    folder = RUNS if what == "run" else FAILED
    suffix = "parquet" if what == "run" else "json"
    named = ", ".join(
        f"{folder}/{rid}.{suffix} ({why})" for rid, why in list(damaged.items())[:3]
    )
    more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
    raise ConfigError(
        f"{store.root}: {len(damaged)} damaged {what} file{'s' if len(damaged) > 1 else ''}: "
        f"{named}{more}; run the experiment's `scf batch ... --out {store.root}` again to "
        f"recompute {'them' if len(damaged) > 1 else 'it'}"
    )


def _checked(store: Store, ids: list[str], read: Callable[[str], Any], what: str) -> list[Any]:
    """`read(rid)` for every id, refusing (one line) if any of them is damaged."""
    out, damaged = [], {}
    for rid in ids:
        try:
            out.append(read(rid))
        except Damaged as exc:
            damaged[rid] = exc.reason
    _refuse_damaged(store, damaged, what)
    return out


def _run_record(schema: pa.Schema, rid: str) -> dict[str, Any]:
    """The `scf` record of a checked run file, which must be the run its name says."""
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise Damaged("it has no run metadata")
    record = json.loads(raw)
    if record.get("run_id") != rid:
        raise Damaged(f"it holds run {str(record.get('run_id'))[:24]}, not {rid}")
    return record


def load_plan(path: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """Every planned run with its labels and status (ok, failed, pending)."""
    return Store.open(path).plan(experiment)


def load_summaries(path: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """One row per finished run (ok or failed) of the store's experiments.

    Columns: experiment, scenario, variant, point, seed, months, run_id, scenario_id, status,
    error, the swept and set parameters as `param.<path>`, then the flattened summary metrics
    (`credit_access_rate`, `volume_by_instrument.<instrument>`, `tier1.credit_access_rate`, ...).
    A run planned by two experiments appears once under each. Every run file is checked first:
    a damaged one is refused with one line naming it (ConfigError).
    """
    store = Store.open(path)
    plan = store.plan(experiment)
    plan = plan[plan.status != "pending"].reset_index(drop=True)
    ok = list(dict.fromkeys(plan.run_id[plan.status == "ok"]))
    failed = list(dict.fromkeys(plan.run_id[plan.status == "failed"]))
    summaries = dict(zip(ok, _checked(store, ok, lambda r: store.run_meta(r)["summary"], "run"),
                         strict=True))
    errors = dict(zip(failed, _checked(store, failed, lambda r: store.failure(r)["error"],
                                       "failure"), strict=True))
    metrics = [flatten_summary(summaries[r]) if r in summaries else {} for r in plan.run_id]
    plan["error"] = pd.Series([errors.get(r) for r in plan.run_id], index=plan.index,
                              dtype="object")
    return pd.concat([plan, pd.DataFrame(metrics, index=plan.index)], axis=1)


def load_monthly(path: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """The monthly tidy table of every ok run, labelled: one long table.

    Keyed by (experiment, scenario_id or scenario/variant, seed, month, group); the metric
    columns are those of `RunResult.monthly`. Every run file is checked (seal and page
    checksums) first; a damaged one is refused with one line naming it.
    """
    store = Store.open(path)
    plan = store.plan(experiment)
    plan = plan[plan.status == "ok"]
    labels = plan[["experiment", "scenario", "variant", "point", "run_id"]]
    ids = list(dict.fromkeys(plan.run_id))
    if not ids:
        return pd.DataFrame(columns=[*labels.columns, "scenario_id", "seed", "month", "group"])
    tables = _checked(store, ids, store.run_table, "run")
    tables = [t.replace_schema_metadata(None) for t in tables]
    runs = pa.concat_tables(tables, promote_options="default").to_pandas()
    return labels.merge(runs, on="run_id", how="inner", sort=False)


def load_parameters(path: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """One row per scenario_id: months and every resolved parameter by dotted path."""
    store = Store.open(path)
    plan = store.plan(experiment)
    first: dict[str, tuple[str, str]] = {}
    for rid, sid, status in zip(plan.run_id, plan.scenario_id, plan.status, strict=True):
        if sid not in first and status != "pending":
            first[sid] = (rid, status)
    ok = [rid for rid, status in first.values() if status == "ok"]
    failed = [rid for rid, status in first.values() if status == "failed"]
    metas = dict(zip(ok, _checked(store, ok, store.run_meta, "run"), strict=True))
    metas.update(zip(failed, _checked(store, failed, store.failure, "failure"), strict=True))
    rows = [
        {"scenario_id": sid, "months": metas[rid]["months"], **flatten_config(metas[rid]["config"])}
        for sid, (rid, _) in first.items()
    ]
    return pd.DataFrame(rows)


def load_failures(path: str | Path, experiment: str | None = None) -> pd.DataFrame:
    """Labels, error and traceback of every failed run."""
    store = Store.open(path)
    plan = store.plan(experiment)
    plan = plan[plan.status == "failed"].reset_index(drop=True)
    records = _checked(store, list(plan.run_id), store.failure, "failure")
    plan["error"] = [r["error"] for r in records]
    plan["traceback"] = [r["traceback"] for r in records]
    return plan
