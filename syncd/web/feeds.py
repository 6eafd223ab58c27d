"""What leaves the dashboard other than pages: the live event stream, the read-only iCalendar
feeds per room and site (secret-token URLs, no session needed), and CSV exports."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from icalendar import Calendar, Event
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mappings.privacy import redact_cpr
from syncd.store import stats
from syncd.store.tables import BookingRow, RoomAllocationRow, RoomBlockRow
from syncd.web.deps import Dashboard, Refused, SignedIn, User, dashboard, parse_day
from syncd.web.format import MODES

router = APIRouter()
# A stream ends after this long and the browser reconnects (missing nothing: see Last-Event-ID),
# so a shutting-down server never waits long for open dashboards.
STREAM_SECONDS = 25
HEARTBEAT_SECONDS = 15
FEED_PAST = timedelta(days=14)
FEED_FUTURE = timedelta(days=120)
EXPORT_MAX_DAYS = 400


# -- live ----------------------------------------------------------------------------------


def _marks(d: Dashboard) -> dict[str, str]:
    """Per topic, a short fingerprint of what the views show."""
    with d.rt.db.read() as s:
        marks = stats.change_marks(s)
    return {
        topic: hashlib.sha256(repr(value).encode()).hexdigest()[:12]
        for topic, value in marks.items()
    }


def marks_token(marks: dict[str, str]) -> str:
    return ".".join(f"{topic}-{mark}" for topic, mark in sorted(marks.items()))


def _parse_token(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    parts = [p.partition("-") for p in token.split(".")]
    return {topic: mark for topic, _, mark in parts if topic and mark}


def live_since(d: Dashboard) -> str:
    """What a page was rendered from; its live stream starts by reporting anything newer."""
    return marks_token(_marks(d))


@router.get("/live")
async def live(
    request: Request, since: str | None = None, user: User = SignedIn
) -> StreamingResponse:
    """Server-Sent Events: ``hello`` on (re)connect, then ``change`` with the topics that
    changed (``bookings``, ``drift``) whenever the event feed, audit log or failures move.
    Each event carries the state it reports as its id, so a reconnecting browser (which sends
    it back as Last-Event-ID) or a fresh page (``since``) hears of what it has not seen."""
    d = dashboard(request)
    poll = d.config.live_poll_seconds
    seen = _parse_token(request.headers.get("last-event-id") or since)

    async def stream() -> AsyncIterator[str]:
        last = await run_in_threadpool(_marks, d)
        yield f"retry: 2000\nid: {marks_token(last)}\nevent: hello\ndata: {{}}\n\n"
        if seen is not None:
            missed = sorted(k for k in last if last[k] != seen.get(k))
            if missed:
                yield f"id: {marks_token(last)}\nevent: change\ndata: {json.dumps(missed)}\n\n"
        started = beat = time.monotonic()
        while time.monotonic() - started < STREAM_SECONDS:
            await asyncio.sleep(poll)
            if await request.is_disconnected():
                return
            marks = await run_in_threadpool(_marks, d)
            changed = sorted(k for k in marks if marks[k] != last.get(k))
            last = marks
            if changed:
                yield f"id: {marks_token(marks)}\nevent: change\ndata: {json.dumps(changed)}\n\n"
                beat = time.monotonic()
            elif time.monotonic() - beat > HEARTBEAT_SECONDS:
                yield ": ping\n\n"
                beat = time.monotonic()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- iCalendar -----------------------------------------------------------------------------


def _check_token(d: Dashboard, kind: str, ident: str, token: str) -> None:
    if not hmac.compare_digest(token.encode(), d.feed_token(kind, ident).encode()):
        raise Refused(404, "Ukendt kalender")


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Selvbook syncd//Lokaler//DA")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Europe/Copenhagen")
    return cal


def _feed(d: Dashboard, room_ids: list[str], name: str) -> Response:
    now = d.rt.clock()
    lo, hi = now - FEED_PAST, now + FEED_FUTURE
    cal = _calendar(name)
    index = d.rt.index
    with d.rt.db.read() as s:
        rows = s.execute(
            select(RoomAllocationRow, BookingRow)
            .join(BookingRow, BookingRow.id == RoomAllocationRow.booking_id)
            .where(
                RoomAllocationRow.active,
                RoomAllocationRow.room_id.in_(room_ids),
                RoomAllocationRow.end > lo,
                RoomAllocationRow.start < hi,
                BookingRow.status == "confirmed",
            )
            .order_by(RoomAllocationRow.start)
        ).all()
        blocks = list(
            s.scalars(
                select(RoomBlockRow).where(
                    RoomBlockRow.active,
                    RoomBlockRow.room_id.in_(room_ids),
                    RoomBlockRow.end > lo,
                    RoomBlockRow.start < hi,
                )
            )
        )
    for alloc, b in rows:
        cw = index.caseworkers.get(b.caseworker_id)
        ctype = index.types.get(b.type_code)
        room = index.rooms.get(alloc.room_id)
        ev = Event()
        ev.add("uid", f"selvbook-{b.id}@syncd")
        ev.add("dtstamp", b.updated_at)
        ev.add("last-modified", b.updated_at)
        ev.add("sequence", b.version)
        ev.add("dtstart", b.start)
        ev.add("dtend", b.end)
        ev.add("summary", f"{ctype.title if ctype else b.type_code} – {cw.name if cw else ''}")
        ev.add("location", room.name if room else alloc.room_id)
        ev.add(
            "description",
            f"Bookingreference: {b.reference}\nForm: {MODES.get(b.mode, b.mode)}"
            + ("\nLåst til lokalet" if alloc.pinned else ""),
        )
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    for blk in blocks:
        room = index.rooms.get(blk.room_id)
        ev = Event()
        ev.add("uid", f"selvbook-block-{blk.id}@syncd")
        ev.add("dtstamp", blk.created_at)
        ev.add("dtstart", blk.start)
        ev.add("dtend", blk.end)
        ev.add("summary", f"Blokeret: {redact_cpr(blk.reason)}")
        ev.add("location", room.name if room else blk.room_id)
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    return Response(
        cal.to_ical(),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/feeds/room/{room_id}/{token}.ics")
def room_feed(request: Request, room_id: str, token: str) -> Response:
    d = dashboard(request)
    _check_token(d, "room", room_id, token)
    room = d.rt.index.rooms.get(room_id)
    if room is None:
        raise Refused(404, "Ukendt kalender")
    site = d.rt.index.sites.get(room.site_id)
    return _feed(d, [room_id], f"{room.name}, {site.name if site else room.site_id}")


@router.get("/feeds/site/{site_id}/{token}.ics")
def site_feed(request: Request, site_id: str, token: str) -> Response:
    d = dashboard(request)
    _check_token(d, "site", site_id, token)
    site = d.rt.index.sites.get(site_id)
    if site is None:
        raise Refused(404, "Ukendt kalender")
    rooms = [r.id for r in d.rt.index.rooms_by_site.get(site_id, [])]
    return _feed(d, rooms, f"Mødelokaler, {site.name}")


# -- CSV -----------------------------------------------------------------------------------


def _period(d: Dashboard, start: str | None, end: str | None) -> tuple[date, date]:
    today = d.rt.clock().astimezone(d.rt.zone).date()
    # Each end checked before any arithmetic on it (9999-12-31 + 6 days overflows).
    first = (
        parse_day(start, "periode", "Perioden")
        if start
        else today - timedelta(days=today.weekday())
    )
    last = parse_day(end, "periode", "Perioden") if end else first + timedelta(days=6)
    if last < first or (last - first).days > EXPORT_MAX_DAYS:
        raise Refused(400, f"Perioden skal være fra 1 til {EXPORT_MAX_DAYS} dage")
    return first, last


def _site(d: Dashboard, site: str | None) -> str:
    sites = d.rt.index.directory.sites
    site_id = site or (sites[0].id if sites else "")
    if site_id not in d.rt.index.sites:
        raise Refused(404, "Ukendt matrikel")
    return site_id


def _csv(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _stamp(first: date, last: date) -> str:
    return f"{first.isoformat()}_{last.isoformat()}"


@router.get("/export/allocations.csv")
def export_allocations(
    request: Request,
    site: str | None = None,
    start: str | None = None,
    end: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id, (first, last) = _site(d, site), _period(d, start, end)
    with d.rt.db.read() as s:
        text = stats.allocations_csv(s, d.rt.index, site_id, first, last, d.rt.zone)
    return _csv(text, f"lokaler_{site_id}_{_stamp(first, last)}.csv")


@router.get("/export/utilisation.csv")
def export_utilisation(
    request: Request,
    site: str | None = None,
    start: str | None = None,
    end: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id, (first, last) = _site(d, site), _period(d, start, end)
    with d.rt.db.read() as s:
        report = stats.utilisation(
            s, d.rt.index, site_id, first, last, d.rt.zone, d.hours, d.rt.closing_days
        )
    return _csv(
        stats.utilisation_csv(report, d.rt.index), f"belaegning_{site_id}_{_stamp(first, last)}.csv"
    )


@router.get("/export/self-booking.csv")
def export_self_booking(
    request: Request,
    site: str | None = None,
    start: str | None = None,
    end: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id, (first, last) = _site(d, site), _period(d, start, end)
    with d.rt.db.read() as s:
        report = stats.self_booking(s, d.rt.index, first, last, d.rt.zone, site_id)
    return _csv(stats.self_booking_csv(report), f"selvbooking_{site_id}_{_stamp(first, last)}.csv")
