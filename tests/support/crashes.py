"""Killing the daemon at a named place (``syncd.engine.crashpoints``), for crash-safety tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from syncd.engine import crashpoints
from syncd.engine.crashpoints import Crash


@contextmanager
def crash_at(point: str, *, skip: int = 0) -> Iterator[list[str]]:
    """Raise ``Crash`` the ``skip + 1``-th time the daemon reaches ``point`` (then no more);
    yields the keys (booking or calendar ids) the crash hit."""
    assert point in crashpoints.POINTS, point
    hit: list[str] = []
    seen = 0

    def hook(name: str, key: str) -> None:
        nonlocal seen
        if name != point or hit:
            return
        if seen < skip:
            seen += 1
            return
        hit.append(key)
        raise Crash(f"killed at {name} ({key})")

    crashpoints.install(hook)
    try:
        yield hit
    finally:
        crashpoints.install(None)
