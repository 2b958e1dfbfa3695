"""Sealed files: Parquet and JSON that prove they are whole, checked before they are trusted.

A sealed Parquet file carries, in its footer's key-value metadata under `scf.seal`, the SHA-256
of the whole file with those 64 hex digits read as zeros: every byte a reader could use (data
pages, footer, schema, metadata, statistics) is covered, and checking costs one read and one
hash, no parsing. Its pages also carry CRC-32 checksums (the Parquet format's own, which
pyarrow, DuckDB and Spark can verify). A sealed JSON record carries `sha256` over the
canonical JSON of the rest.

The seal is a pure function of the content, so sealed files stay byte-identical whichever
worker wrote them. A truncated, emptied, overwritten or bit-flipped file fails `check_parquet`
or `check_record` with a short reason; a valid file put under another name is caught by the
caller comparing the id inside with the name.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from simulation.scenario import ConfigError

SEAL_KEY = b"scf.seal"
MAGIC = b"PAR1"
_BLANK = b"0" * 64
# the seal's value follows its key in the footer (after the Thrift field header and length)
_SEAL = re.compile(re.escape(SEAL_KEY) + rb"[\x00-\xff]{1,3}?([0-9a-f]{64})")


class Damaged(ConfigError):
    """A stored file is not whole or not what its name says.

    `reason` says why; with a `path` the message is one line naming the file, so a Damaged that
    no caller handles still ends a command with that line and exit code 2.
    """

    def __init__(self, reason: str, path: Path | None = None) -> None:
        self.reason, self.path = reason, path
        super().__init__(
            reason if path is None else f"{path}: damaged ({reason}); run `scf batch` on this "
            f"store again to recompute it"
        )


def _footer_start(data: bytes) -> int:
    if len(data) < 12 or not data.startswith(MAGIC) or not data.endswith(MAGIC):
        raise Damaged("truncated or not a Parquet file" if data else "empty")
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    if start < 4:
        raise Damaged("truncated (its footer is cut)")
    return start


def _seal_span(data: bytes) -> tuple[int, int]:
    found = list(_SEAL.finditer(data, _footer_start(data)))
    if len(found) != 1:
        raise Damaged("it has no integrity seal")
    return found[0].span(1)


def _whole_sha(data: bytes, span: tuple[int, int]) -> str:
    digest = hashlib.sha256(data[: span[0]])
    digest.update(_BLANK)
    digest.update(data[span[1] :])
    return digest.hexdigest()


def sealed_parquet(table: pa.Table) -> bytes:
    """`table` as the bytes of a sealed Parquet file (deterministic: same table, same bytes)."""
    buffer = io.BytesIO()
    writer = pq.ParquetWriter(buffer, table.schema, write_page_checksum=True)
    try:
        writer.write_table(table)
        writer.add_key_value_metadata({SEAL_KEY: _BLANK})
    finally:
        writer.close()
    data = buffer.getvalue()
    span = _seal_span(data)
    return data[: span[0]] + _whole_sha(data, span).encode("ascii") + data[span[1] :]


def read_bytes(path: Path) -> bytes:
    """A stored file's bytes, or Damaged if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror or exc})") from None


def check_parquet(data: bytes) -> pa.Schema:
    """The schema (with its metadata) of a sealed Parquet file's bytes, or Damaged saying why.

    The seal covers every byte; the pages' CRCs are checked too when the table is read
    (`read_checked`).
    """
    span = _seal_span(data)
    if data[span[0] : span[1]].decode("ascii") != _whole_sha(data, span):
        raise Damaged("its content does not match its seal (changed after it was written)")
    try:
        return pq.read_schema(pa.BufferReader(data))
    except Exception as exc:  # sealed yet unreadable: written damaged
        raise Damaged(f"its footer cannot be read ({_first_line(exc)})") from None


def read_checked(data: bytes) -> pa.Table:
    """The table in a sealed Parquet file's bytes, seal and every page's CRC checked."""
    check_parquet(data)
    try:
        return pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
    except Exception as exc:
        raise Damaged(f"its pages cannot be read ({_first_line(exc)})") from None


def sealed_record(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with a `sha256` over its canonical JSON."""
    return {**record, "sha256": _record_sha(record)}


def check_record(text: str) -> dict[str, Any]:
    """A sealed JSON record (its `sha256` removed), or Damaged saying why."""
    try:
        record = json.loads(text)
    except ValueError:
        raise Damaged("not valid JSON") from None
    if not isinstance(record, dict) or "sha256" not in record:
        raise Damaged("it has no integrity seal")
    stored = record.pop("sha256")
    if stored != _record_sha(record):
        raise Damaged("its content does not match its seal (changed after it was written)")
    return record


def _record_sha(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__
