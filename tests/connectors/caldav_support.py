"""Helpers shared by the CalDAV connector tests (not a test module itself)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from connectors.base import EventDraft
from connectors.caldav import CalDAVConnector
from mappings.ical import render_event
from tests.support.radicale import RadicaleServer

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)  # a Tuesday
WINDOW = (DAY - timedelta(days=30), DAY + timedelta(days=120))
PASSWORD = "s3cret-Pa55word-never-shown"


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute) + timedelta(days=days)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def draft(external_id: str | None = None, **changes: object) -> EventDraft:
    values: dict[str, object] = {
        "external_id": external_id or unique("booking"),
        "summary": "Jobsamtale (selvbooket) - fremmøde",
        "start": at(9, 40),
        "end": at(10, 10),
        "location": "Mødelokale L2, Jobcenter Lilleby",
    }
    values.update(changes)
    return EventDraft(**values)  # type: ignore[arg-type]


def connector(url: str, user: str = "syncd", **kwargs: object) -> CalDAVConnector:
    kwargs.setdefault("timeout", 10.0)
    return CalDAVConnector(url, user, PASSWORD, **kwargs)  # type: ignore[arg-type]


def via(base: str, url: str) -> str:
    """The same resource path on another base URL (a proxy in front of the server)."""
    return base.rstrip("/") + urlsplit(url).path


def our_ics(d: EventDraft) -> str:
    return render_event(d)


def foreign_ics(uid: str, summary: str, start: datetime, end: datetime, extra: str = "") -> str:
    """A plain event as a person's client writes it (UTC times, no external id)."""
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Person//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start.astimezone(ZoneInfo('UTC')).strftime(fmt)}\r\n"
        f"DTEND:{end.astimezone(ZoneInfo('UTC')).strftime(fmt)}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


class Space:
    """Unique calendar homes on a shared server, so a test needs no server of its own.

    Homes sit at the top level (``/<id>-caseworkers/``) because Radicale's "authenticated"
    rights allow calendars only one level below a top-level collection.
    """

    def __init__(self, server: RadicaleServer) -> None:
        self.server = server
        self.id = uuid.uuid4().hex[:10]

    def home(self, name: str) -> str:
        return f"{self.id}-{name}"

    def home_url(self, name: str) -> str:
        return self.server.collection_url(self.home(name))

    def calendar(self, home: str, name: str, **kwargs: object) -> str:
        return self.server.make_calendar(self.home(home), name, **kwargs)  # type: ignore[arg-type]

    def path(self, home: str, *rest: str) -> str:
        return "/" + "/".join((self.home(home), *rest))
