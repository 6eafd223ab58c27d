"""Small builders shared by the mappings tests."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from connectors.base import CalendarItem

CPH = ZoneInfo("Europe/Copenhagen")
UTC = ZoneInfo("UTC")

ICALENDAR_CORPUS = Path(icalendar.__file__).parent / "tests"
RIE_CORPUS = Path(recurring_ical_events.__file__).parent / "test" / "calendars"


def vcal(*events: str, head: str = "", zones: str = "") -> str:
    """A VCALENDAR around VEVENT bodies (each given as its property lines)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    if head:
        lines += head.strip().splitlines()
    if zones:
        lines += zones.strip().splitlines()
    for body in events:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(line.strip() for line in lines) + "\r\n"


def item(
    start: datetime | date,
    end: datetime | date,
    *,
    uid: str = "u1",
    summary: str = "Møde",
    **kwargs: object,
) -> CalendarItem:
    return CalendarItem(
        href=f"/cal/{uid}.ics", uid=uid, summary=summary, start=start, end=end, **kwargs
    )  # type: ignore[arg-type]


def cph(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)  # type: ignore[misc]


# Outlook's own VTIMEZONE for Copenhagen under a home-made name.
CUSTOM_CET = """
BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
"""

# A home-made zone that matches no Danish rule: UTC+3 all year.
CUSTOM_PLUS3 = """
BEGIN:VTIMEZONE
TZID:Min egen zone
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:STANDARD
END:VTIMEZONE
"""
