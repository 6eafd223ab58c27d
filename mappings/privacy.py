"""CPR numbers (Danish personal identity numbers) must never reach a calendar, log or metric.

A CPR number is DDMMYY-NNNN or ten digits, and people write it in many ways: 010190.1234,
010190/1234, 01.01.90-1234, 01 01 90 1234. We refuse anything shaped like one (with a valid day
and month), without the old modulus-11 check, since numbers issued since 2007 may fail it.
"""

from __future__ import annotations

import re

# Day, month and year each may be set apart by a dot, slash, dash or space; the four digits
# by any of those, with spaces around.
_CPR = re.compile(r"(?<!\d)(\d{2})[./ -]?(\d{2})[./ -]?(\d{2}) ?[-./ ]? ?(\d{4})(?!\d)")


def _plausible(day: str, month: str) -> bool:
    d, m = int(day), int(month)
    return 1 <= d <= 31 and 1 <= m <= 12


def contains_cpr(text: str) -> bool:
    """True if ``text`` contains something shaped like a CPR number."""
    return any(_plausible(m.group(1), m.group(2)) for m in _CPR.finditer(text))


def redact_cpr(text: str) -> str:
    """``text`` with every CPR-shaped number replaced by a marker."""

    def _sub(m: re.Match[str]) -> str:
        return "[CPR fjernet]" if _plausible(m.group(1), m.group(2)) else m.group(0)

    return _CPR.sub(_sub, text)
