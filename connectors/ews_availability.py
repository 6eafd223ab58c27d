"""Free/busy over GetUserAvailability: the request's time zone rules and the 42-day split.

Exchange answers availability in the time zone described in the request (Bias plus standard and
daylight rules) and returns naive local times. We describe our configured zone with rules
derived from zoneinfo itself (no GetServerTimeZones round trip), and exchangelib localises the
naive answers with the same zone, so both sides agree, also across DST changes.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from exchangelib.properties import DaylightTime, StandardTime, TimeZone

MAX_WINDOW = timedelta(days=42)  # Exchange refuses longer availability windows


def windows(
    start: datetime, end: datetime, size: timedelta = MAX_WINDOW
) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of at most ``size``."""
    cursor = start
    while cursor < end:
        upper = min(cursor + size, end)
        yield cursor, upper
        cursor = upper


def availability_timezone(zone: ZoneInfo, year: int) -> TimeZone:
    """The EWS SerializableTimeZone for ``zone`` in ``year``."""
    switches = _transitions(zone, year)
    jan = _minutes(zone, datetime(year, 1, 1, 12, tzinfo=UTC))
    jul = _minutes(zone, datetime(year, 7, 1, 12, tzinfo=UTC))
    standard, daylight = min(jan, jul), max(jan, jul)
    if len(switches) != 2 or standard == daylight:
        rule = dict(time=time(0, 0), occurrence=1, iso_month=1, weekday=7)
        return TimeZone(
            bias=-standard,
            standard_time=StandardTime(bias=0, **rule),
            daylight_time=DaylightTime(bias=0, **rule),
        )
    to_dst = next(s for s in switches if s[1] == daylight)
    to_std = next(s for s in switches if s[1] == standard)
    return TimeZone(
        bias=-standard,
        standard_time=StandardTime(bias=0, **_rule(to_std[0], daylight)),
        daylight_time=DaylightTime(bias=standard - daylight, **_rule(to_dst[0], standard)),
    )


def _minutes(zone: ZoneInfo, moment: datetime) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds() // 60)


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, int]]:
    """(UTC instant, new offset in minutes) of each offset change in ``year``."""
    out = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    previous = _minutes(zone, day)
    while day.year == year:
        nxt = day + timedelta(days=1)
        offset = _minutes(zone, nxt)
        if offset != previous:
            lo, hi = day, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if _minutes(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            out.append((hi.replace(second=0, microsecond=0), offset))
            previous = offset
        day = nxt
    return out


def _rule(moment_utc: datetime, old_offset: int) -> dict:
    """A Windows transition rule: local wall time (before the switch), Nth weekday of month."""
    local = moment_utc.replace(tzinfo=None) + timedelta(minutes=old_offset)
    same_weekdays = [
        d
        for d in range(1, calendar.monthrange(local.year, local.month)[1] + 1)
        if datetime(local.year, local.month, d).weekday() == local.weekday()
    ]
    index = same_weekdays.index(local.day) + 1
    occurrence = 5 if local.day == same_weekdays[-1] else index
    return dict(
        time=time(local.hour, local.minute),
        occurrence=occurrence,
        iso_month=local.month,
        weekday=local.weekday() + 1,
    )
