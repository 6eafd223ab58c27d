"""The limits every door (API, dashboard, CLI) applies to what comes in, so that nothing a
caller sends reaches the store as something it cannot hold: no NUL or control characters
(PostgreSQL refuses NUL in text), integers within PostgreSQL's ``integer``, and dates within a
window where date arithmetic cannot overflow."""

from __future__ import annotations

import re
from datetime import date, datetime

# An identifier or reference: printable, no control characters.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
# Free text: line breaks and tabs are fine, other control characters (NUL above all) are not.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
ID_MAX = 200
TEXT_MAX = 500
# PostgreSQL's integer: row ids (events, blocks, outbox entries) never exceed it.
INT_MAX = 2**31 - 1
# Dates a jobcentre plans within; anything outside is a typing error, not a plan.
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def day_in_window(day: date) -> bool:
    return EARLIEST <= day <= LATEST


def moment_in_window(moment: datetime) -> datetime:
    """For pydantic's ``AfterValidator``: a ValueError becomes a 422 naming the field."""
    if not day_in_window(moment.date()):
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return moment
