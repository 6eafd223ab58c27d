"""Danish words and formats for the dashboard: dates, times, numbers, modes and audit actions."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ["mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"]
WEEKDAYS_SHORT = ["man", "tir", "ons", "tor", "fre", "lør", "søn"]
MONTHS = [
    "januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
    "oktober", "november", "december",
]  # fmt: skip
MODES = {"in_person": "fremmøde", "phone": "telefon", "video": "video"}
FEATURES = {"wheelchair": "kørestolsadgang", "video": "videoudstyr"}
ACTIONS = {
    "room.pinned": "låste",
    "room.unpinned": "låste op for",
    "room.assigned": "flyttede",
    "room.found": "fandt lokale til",
    "room.moved": "omplacerede",
    "room.reallocated": "omplacerede",
    "room.declined": "fik afslag fra lokalet på",
    "room.blocked": "blokerede",
    "room.unblocked": "ophævede blokering af",
    "outbox.retried": "prøvede kalenderopdateringen igen for",
    "booking.confirmed": "bookede",
    "booking.cancelled": "aflyste",
    "booking.rebooked": "ombookede",
    "booking.moved": "flyttede tidspunkt for",
    "hold.created": "reserverede",
    "hold.released": "frigav reservation",
}
ACTORS = {"kalender": "Kalenderen", "api": "Booking-API", "jobnet": "Jobnet"}


class Formats:
    """Jinja filters bound to the jobcentre's time zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def hm(self, moment: datetime | None) -> str:
        return self.local(moment).strftime("%H:%M") if moment else ""

    def day(self, value: date | datetime) -> str:
        """1. december 2026"""
        d = self.local(value).date() if isinstance(value, datetime) else value
        return f"{d.day}. {MONTHS[d.month - 1]} {d.year}"

    def long_day(self, value: date | datetime) -> str:
        """tirsdag 1. december 2026"""
        d = self.local(value).date() if isinstance(value, datetime) else value
        return f"{WEEKDAYS[d.weekday()]} {self.day(d)}"

    def short_day(self, value: date | datetime) -> str:
        """tir 1/12"""
        d = self.local(value).date() if isinstance(value, datetime) else value
        return f"{WEEKDAYS_SHORT[d.weekday()]} {d.day}/{d.month}"

    def stamp(self, moment: datetime | None) -> str:
        """1/12 09:40"""
        if moment is None:
            return ""
        t = self.local(moment)
        return f"{t.day}/{t.month} {t:%H:%M}"

    def local_iso(self, moment: datetime) -> str:
        """2026-12-01T09:40, the jobcentre's wall clock (what a datetime-local input holds)."""
        return self.local(moment).strftime("%Y-%m-%dT%H:%M")

    def filters(self) -> dict[str, object]:
        return {
            "local_iso": self.local_iso,
            "hm": self.hm,
            "day": self.day,
            "long_day": self.long_day,
            "short_day": self.short_day,
            "stamp": self.stamp,
            "num": number,
            "pct": percent,
            "mode": lambda m: MODES.get(m, m),
            "feature": lambda f: FEATURES.get(f, f),
            "action": lambda a: ACTIONS.get(a, a),
            "actor": actor,
            "samtaler": lambda n: plural(n, "samtale", "samtaler"),
        }


def plural(n: int, one: str, many: str) -> str:
    """1 samtale, 0 or 2 samtaler."""
    return f"{n} {one if n == 1 else many}"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)} %"


def actor(value: str) -> str:
    """dashboard:anne -> anne; the booking API's client names and the calendar read as words."""
    kind, _, name = value.partition(":")
    if kind in ("dashboard", "oidc") and name:
        return name
    return ACTORS.get(value, value)
