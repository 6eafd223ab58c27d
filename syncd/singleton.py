"""SQLite serves one process only. A second ``syncd run`` on the same file would race the
first (two sync loops, two outbox workers), so it must refuse clearly. An OS file lock does
this and is released even when the holder is killed with SIGKILL."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    pass


class ProcessLock:
    def __init__(self, database_url: str) -> None:
        path = database_url.split("///", 1)[-1]
        self.path = Path(path + ".lock")
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
                f"another syncd ({holder}) already runs on {self.path.with_suffix('')}. "
                "SQLite serves one process only; run several replicas on PostgreSQL instead."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
