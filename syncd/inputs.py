"""The limits every door (API, dashboard, CLI) applies to what comes in, so that nothing a
caller sends reaches the store as something it cannot hold: no NUL or control characters
(PostgreSQL refuses NUL in text), integers within PostgreSQL's ``integer``, and dates within a
window where date arithmetic cannot overflow."""

from __future__ import annotations

import re
from datetime import date, datetime

from mappings.privacy import unify

# An identifier or reference: printable characters only. Refused: C0 and C1 controls, the
# soft hyphen, bidi marks and overrides, zero-width characters, line and paragraph separators,
# the BOM and interlinear annotation marks (invisible, so two references that look the same
# would differ). \uXXXX escapes read the same in Python's, Rust's (pydantic) and ECMA regexes.
ID_PATTERN = (
    r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ufeff\ufff9-\ufffb]+$"
)
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


def citizen_key(ref: str) -> str:
    """A citizen reference as stored and compared: NFKC, case-folded, no format characters,
    dashes and spaces unified, trimmed. "REF-X", "ref‐x" (U+2010), full-width or with a
    trailing zero-width space are one citizen, so a restriction on one holds for all."""
    return unify(ref).casefold().strip()


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def day_in_window(day: date) -> bool:
    return EARLIEST <= day <= LATEST


def moment_in_window(moment: datetime) -> datetime:
    """For pydantic's ``AfterValidator``: a ValueError becomes a 422 naming the field."""
    if not day_in_window(moment.date()):
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return moment
