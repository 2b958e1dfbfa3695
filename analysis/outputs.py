"""Output locations: checked before any work starts, and write errors turned into one line.

`check_output_dir` refuses, before anything is computed or written, a directory that cannot be
made or written (a file in its path, no permission, a read-only file system) or whose file
system lacks the space the work is estimated to need. `write_errors` turns an OSError met while
writing (ENOSPC mid-batch, a directory made read-only meanwhile) into a one-line ConfigError;
what was already written completely stays.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simulation.scenario import ConfigError

# a stored run: about 35 kB of metadata and footer plus 0.4 kB per month (measured: 37 kB for
# 3 months, 50 kB for 36, 82 kB for 120); the estimate leaves room for more metrics
RUN_BYTES = 48_000
RUN_BYTES_PER_MONTH = 1_000


def run_bytes(months: int) -> int:
    """The disk space one stored run of `months` months is estimated to take."""
    return RUN_BYTES + RUN_BYTES_PER_MONTH * months


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def check_output_dir(path: str | Path, need_bytes: int = 0, option: str = "--out") -> None:
    """Refuse (one-line ConfigError) a directory that cannot be made or written, or that lacks
    `need_bytes` of free space. Nothing is created."""
    path = Path(path)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == path else f"is inside {existing}, which is a file"
        raise ConfigError(f"{option} {path}: {where}, not a directory (choose another {option})")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {path}: {existing} is not writable (permission denied); choose another "
            f"{option}"
        )
    free = shutil.disk_usage(existing).free
    if need_bytes > free:
        raise ConfigError(
            f"{option} {path}: needs about {_mb(need_bytes)} for the runs to do and "
            f"{_mb(free)} is free on its disk; free some space or choose another {option}"
        )


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "it is not writable"
    return exc.strerror or str(exc)


@contextmanager
def write_errors(path: str | Path, kept: str = "") -> Iterator[None]:
    """Inside this block an OSError while writing under `path` becomes one ConfigError line,
    naming `path`, the reason, and `kept` (what survives, e.g. the finished runs)."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write ({_reason(exc)}){'; ' + kept if kept else ''}"
        ) from None
