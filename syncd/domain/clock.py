"""The clock every part of the daemon reads: injected, so tests and replays choose the time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real time, aware and in UTC (the store keeps UTC)."""
    return datetime.now(UTC)
