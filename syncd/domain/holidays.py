"""Danish public holidays, computed from Easter (no conversations on these days).

Store bededag was abolished from 2024. 5 June, 24 and 31 December are set locally, as closing days
in the configuration.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def danish_public_holidays(year: int) -> frozenset[date]:
    easter = easter_sunday(year)
    offsets = (-3, -2, 0, 1, 39, 49, 50)  # skærtorsdag .. 2. pinsedag
    days = {easter + timedelta(days=o) for o in offsets}
    days |= {date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)}
    if year < 2024:
        days.add(easter + timedelta(days=26))  # store bededag
    return frozenset(days)


def is_closed(day: date, closing_days: frozenset[date] = frozenset()) -> bool:
    """No conversations: a public holiday or a local closing day. Weekends are left to the
    caseworker's own calendar: a window she puts on a Saturday is her decision."""
    return day in danish_public_holidays(day.year) or day in closing_days
