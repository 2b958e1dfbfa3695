"""Damaged stores: every way a run file, plan, failure record or store.json can be spoilt is
detected by every command, refused with one line naming it, and repaired by the next batch
into the store an uninterrupted batch writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analysis.batch import run_plan
from analysis.cli import app
from analysis.experiment import load_experiment
from analysis.integrity import Damaged, check_parquet, read_checked, sealed_parquet
from analysis.store import Store, load_failures, load_monthly, load_parameters, load_summaries
from simulation.scenario import ConfigError

TINY = (
    "description: tiny\nscenarios: [baselines/core_led, levers/guarantee_cap]\nseeds: 3\n"
    "months: 3\nset:\n  population.n_smes: 60\n"
)


def digest(store: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An uninterrupted store of the tiny experiment, and the experiment file."""
    root = tmp_path_factory.mktemp("clean")
    path = root / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    run_plan(load_experiment(path), root / "store", workers=0, progress=False)
    return root / "store", path


@pytest.fixture
def store(clean: tuple[Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(clean[0], tmp_path / "store")
    return tmp_path / "store"


def runs(store: Path) -> list[Path]:
    return sorted((store / "runs").glob("*.parquet"))


def flip(path: Path, where: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(where * (len(data) - 1))] ^= 0x04
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def noise(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def swap(path: Path) -> None:
    """Replace the file by another run's valid file (another seed of the same scenario)."""
    other = next(p for p in runs(path.parent.parent) if p != path)
    path.write_bytes(other.read_bytes())


def footer_number(path: Path) -> None:
    """Change one digit of the summary in the metadata, keeping the file valid Parquet."""
    table = pq.read_table(path)
    meta = table.schema.metadata
    record = json.loads(meta[b"scf"])
    record["summary"]["credit_access_rate"] += 0.01
    table = table.replace_schema_metadata({**meta, b"scf": json.dumps(record).encode()})
    pq.write_table(table, path)


SPOILERS: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "emptied": empty,
    "random bytes": noise,
    "byte flipped in the data": lambda p: flip(p, 0.3),
    "byte flipped in the footer": lambda p: flip(p, 0.97),
    "another seed's file": swap,
    "rewritten with another number": footer_number,
}


def scf(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("spoil", list(SPOILERS))
def test_a_damaged_run_is_refused_by_every_reader_and_recomputed_by_batch(
    clean: tuple[Path, Path], store: Path, spoil: str
) -> None:
    victim = runs(store)[1]
    SPOILERS[spoil](victim)
    name = f"runs/{victim.name}"
    opened = Store.open(store)
    assert set(opened.damaged_runs()) == {victim.stem}
    for loader in (load_summaries, load_monthly, load_parameters):
        if loader is load_parameters and victim.stem not in _first_of_scenario(store):
            continue
        with pytest.raises(ConfigError) as exc:
            loader(store)
        assert name in str(exc.value) and "\n" not in str(exc.value)
    code, _, err = scf("compare", store, "-b", "baselines/core_led", "-p", "levers/*")
    assert code == 2 and name in one_line(err)
    code, out, _ = scf("results", store)
    assert code == 1 and "damaged" in out and victim.name in out
    code, out, _ = scf("batch", clean[1], "--out", store, "--workers", "0", "--no-progress")
    assert code == 0 and "1 damaged recomputed" in out, out
    assert digest(store) == digest(clean[0])  # the store an uninterrupted batch writes
    assert (store / "damaged" / victim.name).is_file()
    assert scf("results", store, "--verify")[0] == 0


def _first_of_scenario(store: Path) -> set[str]:
    plan = Store.open(store).plan()
    return set(plan.drop_duplicates("scenario_id").run_id)


def test_only_the_damaged_run_is_recomputed(clean: tuple[Path, Path], store: Path) -> None:
    victims = runs(store)[:2]
    before = {p.name: p.stat().st_mtime_ns for p in runs(store)}
    for v in victims:
        flip(v, 0.5)
    report = run_plan(load_experiment(clean[1]), store, workers=0, progress=False)
    assert (report.repaired, report.ran) == (2, 2)
    after = {p.name: p.stat().st_mtime_ns for p in runs(store)}
    untouched = [n for n in before if n not in {v.name for v in victims}]
    assert all(before[n] == after[n] for n in untouched)
    assert digest(store) == digest(clean[0])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1), bit=st.integers(0, 7))
def test_every_single_bit_flip_is_detected(clean: tuple[Path, Path], where: float,
                                           bit: int) -> None:
    data = bytearray(runs(clean[0])[0].read_bytes())
    data[int(where * (len(data) - 1))] ^= 1 << bit
    with pytest.raises(Damaged):
        check_parquet(bytes(data))


def test_sealed_files_are_deterministic_and_read_back() -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert sealed_parquet(table) == sealed_parquet(table)
    assert read_checked(sealed_parquet(table)).equals(table)
    plain = pa.BufferOutputStream()
    pq.write_table(table, plain)
    with pytest.raises(Damaged, match="no integrity seal"):
        check_parquet(plain.getvalue().to_pybytes())


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b'{"format": "other", "version": 2}', b"\xff\xfe\x00"]
)
def test_a_damaged_store_json_is_one_line_everywhere(
    clean: tuple[Path, Path], store: Path, content: bytes
) -> None:
    (store / "store.json").write_bytes(content)
    before = digest(store)
    for args in (
        ("results", store),
        ("compare", store, "-b", "baselines/core_led", "-p", "levers/*"),
        ("batch", clean[1], "--out", store, "--workers", "0"),
    ):
        code, _, err = scf(*args)
        assert code == 2 and "store.json: damaged" in one_line(err), err
    assert digest(store) == before and (store / "store.json").read_bytes() == content


def test_a_store_of_the_older_format_is_refused(store: Path) -> None:
    (store / "store.json").write_text('{"format": "scf-sim results", "version": 1}\n')
    code, _, err = scf("results", store)
    assert code == 2 and "older scf" in one_line(err)


@pytest.mark.parametrize("spoil", ["truncated", "byte flipped in the data", "emptied"])
def test_a_damaged_plan_is_refused_and_rewritten_by_its_batch(
    clean: tuple[Path, Path], store: Path, spoil: str
) -> None:
    plan = store / "experiments" / "tiny.parquet"
    SPOILERS[spoil](plan)
    for args in (("results", store), ("compare", store, "-b", "baselines/core_led",
                                       "-p", "levers/*")):
        code, _, err = scf(*args)
        assert code == 2 and "experiments/tiny.parquet: damaged plan" in one_line(err)
    code, out, _ = scf("batch", clean[1], "--out", store, "--workers", "0", "--no-progress")
    assert code == 0 and "0 run now" in out
    assert scf("results", store)[0] == 0


def test_a_damaged_failure_record_is_refused_then_run_again(
    clean: tuple[Path, Path], store: Path
) -> None:
    opened = Store.open(store)
    victim = runs(store)[0]
    meta = opened.run_meta(victim.stem)
    record_meta = {k: meta[k] for k in ("run_id", "scenario_id", "seed", "months", "config")}
    victim.unlink()
    record = opened.write_failure(record_meta, "ValueError: boom", "Traceback ...")
    assert load_failures(store).error.tolist() == ["ValueError: boom"]
    record.write_text(record.read_text().replace("boom", "bang"))
    with pytest.raises(ConfigError, match=f"failed/{victim.stem}.json"):
        load_failures(store)
    code, out, _ = scf("results", store)
    assert code == 1 and f"failed/{victim.stem}.json" in out
    report = run_plan(load_experiment(clean[1]), store, workers=0, progress=False)
    assert report.repaired == 1 and report.failed_total == 0
    assert digest(store) == digest(clean[0])


def test_verify_decodes_every_page(clean: tuple[Path, Path], store: Path) -> None:
    code, out, _ = scf("results", store, "--verify")
    assert code == 0 and "damaged" not in out.split("\n")[0]
    with pytest.raises(ConfigError):  # an unreadable file says which one
        Store.open(store).run_meta("0" * 20)
