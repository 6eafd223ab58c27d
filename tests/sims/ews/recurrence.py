"""Recurrence as the simulated Exchange store keeps it: an EWS pattern plus a range.

The store keeps the EWS shape (what CreateItem sends and GetItem returns) and expands it with
dateutil in the item's own zone, so occurrences keep their wall-clock time across DST changes,
as Exchange does. The backdoor may also give an RFC 5545 RRULE, converted here to the EWS shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule as du

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEK_INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# EWS also allows these pseudo-days in relative patterns.
DAY_GROUPS = {"Day": DAYS, "Weekday": DAYS[:5], "WeekendDay": DAYS[5:]}


@dataclass
class Recurrence:
    """``kind`` is the EWS element name without "Recurrence" (Weekly, Daily, AbsoluteMonthly, ...)."""

    kind: str
    interval: int = 1
    days: tuple[str, ...] = ()  # Weekly, Relative*: EWS day names
    day_of_month: int | None = None
    week_index: str | None = None  # First..Fourth, Last
    month: str | None = None
    first_day: str = "Monday"
    range_kind: str = "NoEnd"  # NoEnd | EndDate | Numbered
    range_start: date | None = None
    range_end: date | None = None
    count: int | None = None
    extra: dict = field(default_factory=dict)

    def rule(self, dtstart: datetime) -> du.rrule:
        """A dateutil rule whose occurrences are the series' original starts (aware, local)."""
        freq = {
            "Daily": du.DAILY,
            "Weekly": du.WEEKLY,
            "AbsoluteMonthly": du.MONTHLY,
            "RelativeMonthly": du.MONTHLY,
            "AbsoluteYearly": du.YEARLY,
            "RelativeYearly": du.YEARLY,
        }[self.kind]
        kwargs: dict = {"dtstart": dtstart, "interval": self.interval}
        weekdays = [du.weekdays[DAYS.index(d)] for d in self._expanded_days()]
        if self.kind == "Weekly":
            kwargs["byweekday"] = weekdays
            kwargs["wkst"] = DAYS.index(self.first_day)
        elif self.kind in ("RelativeMonthly", "RelativeYearly"):
            kwargs["byweekday"] = weekdays
            kwargs["bysetpos"] = WEEK_INDEX[self.week_index or "First"]
        elif self.kind in ("AbsoluteMonthly", "AbsoluteYearly"):
            kwargs["bymonthday"] = self.day_of_month
        if self.kind in ("AbsoluteYearly", "RelativeYearly"):
            kwargs["bymonth"] = MONTHS.index(self.month or "January") + 1
        if self.range_kind == "Numbered":
            kwargs["count"] = self.count
        elif self.range_kind == "EndDate" and self.range_end is not None:
            kwargs["until"] = datetime.combine(self.range_end, time(23, 59, 59), dtstart.tzinfo)
        return du.rrule(freq, **kwargs)

    def _expanded_days(self) -> tuple[str, ...]:
        out: list[str] = []
        for d in self.days:
            out.extend(DAY_GROUPS.get(d, (d,)))
        return tuple(out)


def from_rrule(value: str, start: datetime) -> Recurrence:
    """An RFC 5545 RRULE (the subset Outlook can express) as an EWS recurrence."""
    parts = dict(p.split("=", 1) for p in value.removeprefix("RRULE:").split(";") if p)
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    rec: Recurrence
    if freq == "DAILY":
        rec = Recurrence("Daily", interval)
    elif freq == "WEEKLY":
        days = tuple(DAYS[ICAL_DAYS.index(d[-2:])] for d in byday) or (DAYS[start.weekday()],)
        rec = Recurrence("Weekly", interval, days=days, first_day=_wkst(parts))
    elif freq == "MONTHLY" and byday:
        idx, day = _ordinal(byday[0], parts)
        rec = Recurrence("RelativeMonthly", interval, days=(day,), week_index=idx)
    elif freq == "MONTHLY":
        rec = Recurrence(
            "AbsoluteMonthly", interval, day_of_month=int(parts.get("BYMONTHDAY", start.day))
        )
    elif freq == "YEARLY":
        month = MONTHS[int(parts.get("BYMONTH", start.month)) - 1]
        if byday:
            idx, day = _ordinal(byday[0], parts)
            rec = Recurrence("RelativeYearly", days=(day,), week_index=idx, month=month)
        else:
            rec = Recurrence(
                "AbsoluteYearly", day_of_month=int(parts.get("BYMONTHDAY", start.day)), month=month
            )
    else:
        raise ValueError(f"unsupported RRULE {value!r}")
    rec.range_start = start.date()
    if "COUNT" in parts:
        rec.range_kind, rec.count = "Numbered", int(parts["COUNT"])
    elif "UNTIL" in parts:
        until = parts["UNTIL"]
        rec.range_kind = "EndDate"
        rec.range_end = date(int(until[:4]), int(until[4:6]), int(until[6:8]))
        if until.endswith("Z") and "T" in until:
            moment = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=ZoneInfo("UTC"))
            rec.range_end = moment.astimezone(start.tzinfo).date()
    return rec


def _wkst(parts: dict[str, str]) -> str:
    return DAYS[ICAL_DAYS.index(parts.get("WKST", "MO"))]


def _ordinal(byday: str, parts: dict[str, str]) -> tuple[str, str]:
    day = DAYS[ICAL_DAYS.index(byday[-2:])]
    num = byday[:-2] or parts.get("BYSETPOS", "1")
    index = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", -1: "Last"}[int(num)]
    return index, day


def occurrences(
    rec: Recurrence, first_start: datetime, zone: ZoneInfo, until: datetime
) -> list[datetime]:
    """Original starts (UTC) of the series up to ``until``, computed in local wall time."""
    local = first_start.astimezone(zone)
    out = []
    for occ in rec.rule(local):
        occ_utc = occ.astimezone(ZoneInfo("UTC"))
        if occ_utc >= until:
            break
        out.append(occ_utc)
        if len(out) > 5000:
            break
    return out


def horizon(now: datetime) -> datetime:
    """How far the simulated server expands open-ended series (free/busy, room checks)."""
    return now + timedelta(days=730)
