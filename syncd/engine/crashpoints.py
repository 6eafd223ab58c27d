"""Named places where a process may die, for tests that kill it exactly there.

Crash safety is argued place by place: the outbox before and after its calendar write, before
and after recording it, the read-back before and after its transaction commits. Each such place
calls ``crash_point(name, key)``. In production nothing is installed and the call does nothing;
a test installs a hook that raises ``Crash`` at the place it chose, which unwinds like a killed
process: no ``except Exception`` catches it, open transactions roll back, nothing after it runs.
"""

from __future__ import annotations

from collections.abc import Callable

POINTS = (
    "outbox.before_reconcile",
    "outbox.before_write",  # before a PUT or DELETE reaches the calendar
    "outbox.after_write",  # the calendar has it, our record does not yet
    "outbox.after_record",  # recorded, the outbox entry not yet done
    "outbox.before_done",
    "sync.before_apply",  # the calendar's changes fetched, nothing applied
    "sync.before_commit",  # read-back done inside the transaction, not committed
    "sync.after_commit",
)

Hook = Callable[[str, str], None]
_hook: Hook | None = None


class Crash(BaseException):
    """The process "died" at a crash point (tests only)."""


def install(hook: Hook | None) -> None:
    """Install (or with None remove) the test hook; it may raise ``Crash``."""
    global _hook
    _hook = hook


def crash_point(name: str, key: str) -> None:
    """``key`` says what is being worked on (a booking or calendar id)."""
    hook = _hook
    if hook is not None:
        hook(name, key)
