"""SQLite serves one process only. Two processes writing the same file would race (two sync
loops, two outbox workers), and the outbox takes over a dead process's calendar writes at once
only because it knows nobody else can be writing. So every command that writes an SQLite store
(``run``, ``serve``, ``sync --once``, ``resync``, ``outbox retry``, ``db upgrade``, ``demo``)
holds an OS file lock beside the database for as long as it runs, and a second one refuses
clearly. The lock is released even when the holder is killed with SIGKILL."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    pass


def sqlite_path(database_url: str) -> Path | None:
    """The database file of an SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[-1] if "///" in database_url else ""
    if not path or path == ":memory:":
        return None
    return Path(path)


class ProcessLock:
    def __init__(self, database_url: str, command: str = "syncd") -> None:
        path = sqlite_path(database_url) or Path(database_url.split("///", 1)[-1])
        self.database = path
        self.path = Path(str(path) + ".lock")
        self.command = command
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"{holder} is using {self.database}; `{self.command}` refuses to write it at "
                "the same time. SQLite serves one process only: stop that process first, or "
                "run several processes on PostgreSQL."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.command} (pid {os.getpid()})")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@contextmanager
def exclusive(database_url: str, command: str) -> Iterator[ProcessLock | None]:
    """Hold the SQLite store's process lock while the block runs (nothing on PostgreSQL)."""
    if sqlite_path(database_url) is None:
        yield None
        return
    lock = ProcessLock(database_url, command)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
