"""The bounded YAML reader: hostile documents end in one ConfigError line, within bounds."""

from __future__ import annotations

import os
import string
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation import yaml_input
from simulation.yaml_input import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    ConfigError,
    parse_yaml,
    read_text,
    read_yaml,
    read_yaml_mapping,
)


def laughs(levels: int, width: int = 9) -> str:
    """A 'billion laughs' document: `width ** levels` values behind a few hundred bytes."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion laughs": (laughs(9), "after expanding aliases"),
    "laughs under seeds": (laughs(9) + "seeds: *l9\n", "after expanding aliases"),
    "recursive alias": ("a: &a [1, *a]\n", "recursive"),
    "undefined alias": ("a: *nowhere\n", "not defined"),
    "deep flow nesting": ("a: " + "[" * 5000 + "]" * 5000, f"more than {MAX_DEPTH} levels"),
    "deep block nesting": (
        "".join("  " * i + f"k{i}:\n" for i in range(200)),
        f"more than {MAX_DEPTH} levels",
    ),
    "duplicate key": ("seeds: 2\nscenarios: [a]\nseeds: 2000\n", "duplicate key 'seeds'"),
    "duplicate nested key": ("core:\n  whitelist: true\n  whitelist: false\n", "duplicate key"),
    "complex key": ("? [a, b]\n: 1\n", "plain value"),
    "binary tag": ("a: !!binary aGVsbG8=\n", "could not determine a constructor"),
    "python tag": ("a: !!python/object/apply:os.system [ls]\n", "could not determine"),
    "timestamp tag": ("a: !!timestamp 2001-12-14\n", "could not determine"),
    "NUL byte": ("a: b\x00\n", "malformed YAML"),
    "two documents": ("a: 1\n---\nb: 2\n", "malformed YAML"),
    "too many values": ("- 1\n" * (MAX_NODES + 1), "too many values"),
    "too large": ("a: " + "x" * MAX_BYTES, "too large"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_one_line_errors_in_bounded_time_and_memory(name: str) -> None:
    text, fragment = HOSTILE[name]
    tracemalloc.start()
    start = time.process_time()
    try:
        with pytest.raises(ConfigError) as exc:
            parse_yaml(text, "exp.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(exc.value)
    assert message.startswith("exp.yaml:") and "\n" not in message
    assert fragment in message
    assert time.process_time() - start < 10
    assert peak < 100e6  # the unbounded versions took 2 GiB


def test_scalars_follow_yaml_1_2_core() -> None:
    data = parse_yaml(
        "a: yes\nb: on\nc: 010\nd: 1:30\ne: 1e3\nf: 0x1F\ng: .inf\nh: -.5\ni: 2026-01-01\n"
        "j: ~\nk: 1_000\nl: True\nm: 'true'\nn: 0o17\no: +3\n"
    )
    assert data == {
        "a": "yes", "b": "on", "c": 10, "d": "1:30", "e": 1000.0, "f": 31, "g": float("inf"),
        "h": -0.5, "i": "2026-01-01", "j": None, "k": 1000, "l": True, "m": "true", "n": 15,
        "o": 3,
    }
    assert isinstance(data["e"], float) and isinstance(data["c"], int)


def test_merge_keys_may_be_overridden_but_not_repeated() -> None:
    data = parse_yaml("base: &b {a: 1, c: 2}\nx:\n  <<: *b\n  a: 5\n")
    assert data["x"] == {"a": 5, "c": 2}
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        parse_yaml("base: &b {a: 1}\nx:\n  <<: *b\n  a: 5\n  a: 6\n")


def test_a_few_aliases_are_fine() -> None:
    data = parse_yaml("s: &s [0.1, 0.2]\nx: *s\ny: *s\n")
    assert data == {"s": [0.1, 0.2], "x": [0.1, 0.2], "y": [0.1, 0.2]}


# ----------------------------------------------------------------------------- generated YAML

plain = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8).filter(
    lambda s: s.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
)
leaves = (
    st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.booleans()
    | st.none()
    | plain
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(plain, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(plain, documents, max_size=6))
def test_generated_documents_read_back_exactly(data: dict) -> None:
    assert parse_yaml(yaml.safe_dump(data)) == data


@settings(max_examples=100, deadline=None)
@given(data=st.dictionaries(plain, documents, min_size=1, max_size=6), where=st.integers(0, 5))
def test_generated_duplicate_keys_are_refused(data: dict, where: int) -> None:
    lines = yaml.safe_dump(data, default_flow_style=False).splitlines()
    tops = [i for i, line in enumerate(lines) if line and not line.startswith((" ", "-"))]
    repeat = lines[tops[where % len(tops)]]
    key = repeat.split(":")[0]
    text = "\n".join(lines) + f"\n{key}: 1\n"
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_yaml(text, "gen.yaml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet="ab:-[]{},&*!?|>'\"#%@` \n\t0123456789.", max_size=200))
def test_any_text_parses_or_is_one_line_error(text: str) -> None:
    try:
        parse_yaml(text, "gen.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("gen.yaml:")


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=1, max_size=300))
def test_any_bytes_in_a_file_read_or_are_one_line_error(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "x.yaml"
    path.write_bytes(data)
    try:
        read_yaml(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))


# ----------------------------------------------------------------------------- files


def test_binary_and_non_utf8_files_say_so(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 16\)"):
        read_yaml(latin)
    gz = tmp_path / "data.yaml"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_yaml(gz)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"a: 1\x00\x00\n")
    with pytest.raises(ConfigError, match="NUL bytes"):
        read_yaml(nul)


def test_a_file_too_large_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(50 * MAX_BYTES)  # sparse: costs no disk
    opened: list[object] = []
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k)
    )
    with pytest.raises(ConfigError, match="too large"):
        read_text(big)
    assert big not in opened and str(big) not in opened


def test_a_fifo_or_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_yaml(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_yaml(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path / "absent.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping of fields"):
        read_yaml_mapping(path)
    (tmp_path / "empty.yaml").write_text("# nothing\n", encoding="utf-8")
    assert read_yaml_mapping(tmp_path / "empty.yaml") == {}
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffa: 1\n".encode())
    assert read_yaml_mapping(bom) == {"a": 1}


def test_limits_are_the_modules_own() -> None:
    """Other readers (targets, specs) rely on these bounds: they must stay small."""
    assert yaml_input.MAX_BYTES <= 1_000_000 and yaml_input.MAX_NODES <= 100_000
    assert yaml_input.MAX_DEPTH <= 64


def test_messages_stay_one_printable_line_whatever_they_quote() -> None:
    assert str(ConfigError("a\nb\x1b[31m")) == "a\\nb\\x1b[31m"
    with pytest.raises(ConfigError) as exc:
        parse_yaml('"key\\nwith\\x1b": 1\n"key\\nwith\\x1b": 2\n', "x.yaml")
    assert str(exc.value).isprintable()
