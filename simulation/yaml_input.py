"""Bounded, defensive YAML input: the one way SCF-Sim reads a YAML file or a `--set` value.

Scenarios, experiments, calibration targets and specs all go through `read_yaml` (a file) or
`parse_yaml` (text). Whatever the input, the answer is Python data or a one-line `ConfigError`
naming the source (and line), within bounded time and memory:

- a file larger than `MAX_BYTES`, not a regular file, or not UTF-8 text is refused before it is
  parsed (and a file that is too large is never read);
- nesting deeper than `MAX_DEPTH` and documents whose aliases expand to more than `MAX_NODES`
  values ("billion laughs") are refused while scanning, before anything is built;
- a key given twice in one mapping is an error, never "the last one wins";
- scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans (`yes`, `on`, `no`
  stay text), `010` is ten, `1:30` is text, `1e3` is a number; tags that build dates, bytes or
  sets are refused. Underscores between digits are allowed (`1_000`).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 256_000  # a scenario is about 1 kB, the largest shipped experiment 2 kB
MAX_DEPTH = 32  # the schema nests 3 levels; an experiment's sweep 4
MAX_NODES = 20_000  # values after alias expansion; pure-Python parsing takes ~0.1 ms per value


class ConfigError(ValueError):
    """A scenario, override or experiment the user wrote is not valid (one-line message).

    Whatever the message quotes from the input, it stays one printable line: newlines and other
    control characters (a key such as "a\nb", a terminal escape) are shown escaped.
    """

    def __init__(self, message: object = "") -> None:
        text = str(message)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
        super().__init__(text)


_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = re.compile(rf"^(?:[-+]?{_DIGITS}|0o[0-7](?:_?[0-7])*|0x[0-9a-fA-F](?:_?[0-9a-fA-F])*)$")
_FLOAT = re.compile(
    rf"^(?:[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TAG = "tag:yaml.org,2002:"
_KEPT_TAGS = {f"{_TAG}{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars, no exotic tags and duplicate keys refused."""

    yaml_implicit_resolvers: dict = {}
    yaml_constructors = {
        tag: fn for tag, fn in yaml.SafeLoader.yaml_constructors.items()
        if tag in _KEPT_TAGS or tag is None  # None: unknown tags, which raise
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def fetch_flow_collection_start(self, token_class: type) -> None:
        """Refuse `[[[[...` at the scanner: its cost grows with the square of the depth."""
        super().fetch_flow_collection_start(token_class)
        if self.flow_level > MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", self.get_mark())

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """Decimal (leading zeros are not octal), 0o octal or 0x hexadecimal."""
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        if text.startswith(("0o", "0x")):
            return sign * int(text[2:], 8 if text[1] == "o" else 16)
        return sign * int(text, 10)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """Decimal and exponent notation, .inf and .nan."""
        text = str(self.construct_scalar(node)).replace("_", "").lower()
        if text.endswith((".inf", ".nan")):
            return float(text.replace(".", ""))
        return float(text)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Refuse a key written twice in one mapping (merged `<<:` keys may be overridden)."""
        if id(node) not in self._checked:
            self._checked.add(id(node))
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == f"{_TAG}merge":
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(
                        None, None, "a key must be a plain value, not a list or mapping",
                        key_node.start_mark)
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (each key may appear once)",
                        key_node.start_mark)
                seen.add(key)
        super().flatten_mapping(node)


_Loader.add_constructor(f"{_TAG}int", _Loader.construct_yaml_int)
_Loader.add_constructor(f"{_TAG}float", _Loader.construct_yaml_float)
_Loader.add_implicit_resolver(f"{_TAG}bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver(f"{_TAG}int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(f"{_TAG}float", _FLOAT, list("-+0123456789."))
_Loader.add_implicit_resolver(f"{_TAG}null", _NULL, ["~", "n", "N", ""])
_Loader.add_implicit_resolver(f"{_TAG}merge", re.compile(r"^(?:<<)$"), ["<"])


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _scan(text: str, source: str) -> None:
    """Walk the event stream (iteratively: no recursion, nothing built) and refuse deep nesting,
    aliases to an enclosing collection, and alias expansion beyond MAX_NODES values."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    stack: list[list[Any]] = []  # open collections: [anchor, values so far, itself included]
    total = 0  # values of the whole stream, aliases expanded

    def add(n: int, mark: Any) -> None:
        nonlocal total
        total += n
        if stack:
            stack[-1][1] += n
        if total > MAX_NODES:
            raise ConfigError(f"{source}:{_line(mark)} too many values (more than {MAX_NODES:,} "
                              f"after expanding aliases); refusing to build it")

    for event in yaml.parse(text, Loader=_Loader):
        mark = event.start_mark
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise ConfigError(f"{source}:{_line(mark)} nested more than {MAX_DEPTH} levels "
                                  f"deep")
            add(1, mark)
            stack.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            if stack:
                stack[-1][1] += count - 1  # the collection itself was counted when it opened
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, mark)
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in stack):
                raise ConfigError(f"{source}:{_line(mark)} alias *{event.anchor} refers to a "
                                  f"collection that contains it (a recursive structure)")
            if event.anchor not in sizes:
                raise ConfigError(f"{source}:{_line(mark)} alias *{event.anchor} is not defined")
            add(sizes[event.anchor], mark)


def _line(mark: Any) -> str:
    return f" line {mark.line + 1}:" if mark is not None else ""


def parse_yaml(text: str, source: str = "input") -> Any:
    """Parse YAML text within the module's bounds; a ConfigError (one line, naming `source` and
    the line) for anything malformed, too large, too deep or too repetitive."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: too large ({len(text):,} characters; the limit is "
                          f"{MAX_BYTES:,})")
    try:
        _scan(text, source)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{source}:{_line(mark)} malformed YAML ({_one_line(problem)})") from None
    except RecursionError:  # the scan bounds depth; this is a last line of defence
        raise ConfigError(f"{source}: nested too deeply") from None


def read_text(path: str | Path, limit: int = MAX_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes, decoded as UTF-8; a one-line
    ConfigError otherwise. The size is checked before anything is read."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise ConfigError(f"{path}: too large ({info.st_size:,} bytes; the limit is "
                              f"{limit:,})")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:  # grew since stat
        raise ConfigError(f"{path}: too large (more than {limit:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); is it a binary file?") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not text (it contains NUL bytes); is it a binary file?")
    return text.removeprefix("\ufeff")


def read_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file within the bounds (see the module docstring)."""
    return parse_yaml(read_text(path), str(path))


def as_mapping(data: Any, source: str) -> dict[str, Any]:
    """A parsed document that must be a mapping ({} for an empty document), or a ConfigError."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of fields (got {type(data).__name__})")
    return data


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping ({} for an empty file), or a one-line ConfigError."""
    return as_mapping(read_yaml(path), str(path))
