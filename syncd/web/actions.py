"""The coordinator's actions. Every one is a POST that needs the coordinator role and the
session's CSRF token (see ``app.coordinator``); the work itself is one call to the
coordination service, which audits it under the signed-in user's name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from syncd.domain.holidays import is_closed
from syncd.domain.model import Mode
from syncd.inputs import INT_MAX, day_in_window
from syncd.store.coordination import MAX_REPEATS, BlockChange, Rehoused, RoomChange
from syncd.store.errors import BookingError, InvalidError
from syncd.store.rooms import Seen
from syncd.web.deps import Coordinator, Dashboard, User, dashboard, safe_next, wants_json
from syncd.web.edges import refusal

router = APIRouter(prefix="/actions")


def _respond(request: Request, run: Callable[[Dashboard], str], back: str) -> Response:
    d = dashboard(request)
    try:
        message, status, ok = run(d), 200, True
    except BookingError as exc:
        if wants_json(request):
            return refusal(exc.status, exc.message, exc.code)
        message, status, ok = exc.message, exc.status, False
    if wants_json(request):
        return JSONResponse({"ok": ok, "message": message}, status_code=status)
    return d.render(request, "result.html", status, ok=ok, message=message,
                    back=safe_next(request, back), user=None)  # fmt: skip


def _room_name(d: Dashboard, room_id: str | None) -> str:
    room = d.rt.index.rooms.get(room_id or "")
    return room.name if room else "intet lokale"


def _rehoused(d: Dashboard, items: tuple[Rehoused, ...]) -> str:
    moved = [f"{r.reference} til {_room_name(d, r.room_id)}" for r in items if r.room_id]
    lost = [r.reference for r in items if r.room_id is None]
    parts = []
    if moved:
        parts.append("Flyttet: " + ", ".join(moved) + ".")
    if lost:
        parts.append("Uden lokale (konflikt): " + ", ".join(lost) + ".")
    return (" " + " ".join(parts)) if parts else ""


def _seen(d: Dashboard, start: str, room_id: str) -> Seen | None:
    """Where the page showed the conversation (none from an older page: no check)."""
    if not start:
        return None
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise InvalidError("Ugyldigt tidspunkt for samtalens start") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=d.rt.zone)
    return Seen(moment, room_id)


def _changed(d: Dashboard, change: RoomChange, verb: str) -> str:
    return f"{change.reference} er {verb} {_room_name(d, change.room_id)}.{_rehoused(d, change.rehoused)}"


@router.post("/pin")
def pin(
    request: Request,
    booking_id: str = Form(...),
    room_id: str = Form(""),
    reason: str = Form(""),
    was_start: str = Form(""),
    was_room: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    return _respond(
        request,
        lambda d: _changed(
            d, d.coordination().pin(booking_id, room_id or None, actor=user.actor, reason=reason,
                                    seen=_seen(d, was_start, was_room)),
            "låst til",
        ),
        back,
    )  # fmt: skip


@router.post("/unpin")
def unpin(
    request: Request,
    booking_id: str = Form(...),
    reason: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    def run(d: Dashboard) -> str:
        change = d.coordination().unpin(booking_id, actor=user.actor, reason=reason)
        return f"{change.reference} er ikke længere låst til lokalet."

    return _respond(request, run, back)


@router.post("/move")
def move(
    request: Request,
    booking_id: str = Form(...),
    room_id: str = Form(...),
    reason: str = Form(""),
    was_start: str = Form(""),
    was_room: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    return _respond(
        request,
        lambda d: _changed(
            d, d.coordination().move(booking_id, room_id, actor=user.actor, reason=reason,
                                     seen=_seen(d, was_start, was_room)),
            "flyttet til",
        ),
        back,
    )  # fmt: skip


MOVE_SEARCH = timedelta(minutes=45)  # how far from the drop a free time is looked for


@router.post("/move-time")
def move_time(
    request: Request,
    booking_id: str = Form(...),
    start: str = Form(...),
    room_id: str = Form(""),
    reason: str = Form(""),
    was_start: str = Form(""),
    was_room: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    """A conversation dragged to another time: the caseworker's free time nearest to where it
    was dropped (same caseworker, type and mode), booked through the same rebooking as the API
    (one transaction, the citizen told through the event feed), in the room it was dropped on
    (``room_id``, with the room move's checks) or, without one, a room the allocator finds."""

    def run(d: Dashboard) -> str:
        from syncd.store.coordination import check_reason
        from syncd.store.offers import OfferQuery, find_offers

        text = check_reason(reason)
        seen = _seen(d, was_start, was_room)
        coordination = d.coordination()
        place = coordination.placer(room_id, reason=text) if room_id else None
        wanted = _local(d, start, "flytningen")
        view = d.rt.bookings.get(booking_id)
        if view.status != "confirmed":
            raise InvalidError("Kun bekræftede samtaler kan flyttes")
        with d.rt.db.read() as s:
            offers = find_offers(
                s, d.rt.index,
                OfferQuery(
                    start=wanted - MOVE_SEARCH, end=wanted + MOVE_SEARCH,
                    type_code=view.type_code, modes=(Mode(view.mode),),
                    caseworker_id=view.caseworker_id, include_strakstid=True,
                ),
                d.rt.clock(), d.rt.zone,
            )  # fmt: skip
        if not offers:
            name = d.rt.index.caseworker_labels.get(view.caseworker_id, view.caseworker_id)
            raise InvalidError(
                f"{name} har ingen ledig tid omkring {d.formats.stamp(wanted)}; samtalen er ikke "
                "flyttet"
            )
        best = min(offers, key=lambda o: (abs((o.start - wanted).total_seconds()), o.start))
        moved = d.rt.bookings.rebook(
            booking_id, best.offer_id, client=user.actor, staff=True, reason=text, seen=seen,
            place=place,
        )  # fmt: skip
        f = d.formats
        where = f" i {_room_name(d, moved.room_id)}" if moved.room_id else ""
        return f"{moved.reference} er flyttet til {f.long_day(moved.start)} kl. {f.hm(moved.start)}{where}."

    return _respond(request, run, back)


@router.post("/find-room")
def find_room(
    request: Request,
    booking_id: str = Form(...),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    return _respond(
        request,
        lambda d: _changed(d, d.coordination().find_room(booking_id, actor=user.actor), "nu i"),
        back,
    )


def _local(d: Dashboard, value: str, what: str) -> datetime:
    """A browser's datetime-local value (2026-12-01T08:00) in the jobcentre's time zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidError(f"Ugyldigt tidspunkt for {what}") from None
    if not day_in_window(moment.date()):
        raise InvalidError(f"Tidspunktet for {what} skal ligge mellem år 2000 og 2099")
    return _resolve(moment, d.rt.zone) if moment.tzinfo is None else moment.astimezone(UTC)


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as an instant (UTC). A time that does not exist (the hour
    skipped when summer time starts) moves forward by the gap, 02:30 to 03:30, as the clock
    does; a repeated one (autumn) is its first occurrence. In UTC, so that comparing two of
    them compares instants, not wall clocks."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _block_message(d: Dashboard, change: BlockChange, verb: str) -> str:
    f = d.formats
    period = f"{f.stamp(change.start)}–{f.stamp(change.end)}"
    return f"{_room_name(d, change.room_id)} er {verb} {period}.{_rehoused(d, change.rehoused)}"


REPEATS = {"": "Gentages ikke", "workdays": "Hver hverdag", "weekly": "Hver uge"}


def _periods(
    d: Dashboard, start: str, end: str, repeat: str, until: str
) -> tuple[list[tuple[datetime, datetime]], list[date]]:
    """The block's periods: one, or one per working day / week up to and including ``until``
    (wall-clock times kept across daylight saving changes), and the days "every working day"
    leaves out because the jobcentre is closed then (public holidays, closing days)."""
    first, last = _local(d, start, "start"), _local(d, end, "slut")
    if repeat not in REPEATS:
        raise InvalidError("Ukendt gentagelse")
    if not repeat:
        return [(first, last)], []
    try:
        stop = date.fromisoformat(until)
    except ValueError:
        raise InvalidError("Angiv hvornår gentagelsen slutter") from None
    if not day_in_window(stop):
        raise InvalidError("Sidste dag skal ligge mellem år 2000 og 2099")
    step = timedelta(days=7 if repeat == "weekly" else 1)
    zone, closing = d.rt.zone, d.rt.closing_days
    a, b = first.astimezone(zone).replace(tzinfo=None), last.astimezone(zone).replace(tzinfo=None)
    periods, skipped = [], []
    while a.date() <= stop:
        if repeat == "workdays" and a.weekday() < 5 and is_closed(a.date(), closing):
            skipped.append(a.date())  # a public holiday or the jobcentre's closing day
        elif repeat == "weekly" or a.weekday() < 5:
            periods.append((_resolve(a, zone), _resolve(b, zone)))
        a, b = a + step, b + step
        if len(periods) > MAX_REPEATS:
            raise InvalidError(f"Højst {MAX_REPEATS} gentagelser")
    return periods, skipped


def _skipped(d: Dashboard, skipped: list[date]) -> str:
    if not skipped:
        return ""
    days = ", ".join(d.formats.short_day(x) for x in skipped)
    return f" Springer over lukkedage: {days}."


def _blocks_message(d: Dashboard, changes: list[BlockChange], verb: str) -> str:
    if len(changes) == 1:
        return _block_message(d, changes[0], verb)
    f = d.formats
    first, last = changes[0], changes[-1]
    rehoused = tuple(r for c in changes for r in c.rehoused)
    return (
        f"{_room_name(d, first.room_id)} er {verb} {len(changes)} gange, "
        f"{f.stamp(first.start)}–{f.stamp(last.end)}.{_rehoused(d, rehoused)}"
    )


@router.post("/block")
def block(
    request: Request,
    room_id: str = Form(...),
    start: str = Form(...),
    end: str = Form(...),
    reason: str = Form(""),
    repeat: str = Form(""),
    until: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    def run(d: Dashboard) -> str:
        periods, skipped = _periods(d, start, end, repeat, until)
        changes = d.coordination().block_periods(room_id, periods, actor=user.actor, reason=reason)
        return _blocks_message(d, changes, "blokeret") + _skipped(d, skipped)

    return _respond(request, run, back)


@router.post("/block-preview")
def block_preview(
    request: Request,
    room_id: str = Form(...),
    start: str = Form(...),
    end: str = Form(...),
    reason: str = Form(""),
    repeat: str = Form(""),
    until: str = Form(""),
    user: User = Coordinator,
) -> Response:
    """What the block would do, worked out exactly as the block itself and rolled back:
    which conversations move where, and which would be left without a room."""
    d = dashboard(request)
    try:
        periods, skipped = _periods(d, start, end, repeat, until)
        changes = d.coordination().block_periods(
            room_id, periods, actor=user.actor, reason=reason, dry_run=True
        )
    except BookingError as exc:
        return refusal(exc.status, exc.message, exc.code)
    f = d.formats
    rehoused = [r for c in changes for r in c.rehoused]
    views = {r.booking_id: d.rt.bookings.get(r.booking_id) for r in rehoused}

    def line(r: Rehoused) -> dict[str, str]:
        v = views[r.booking_id]
        return {
            "reference": r.reference,
            "time": f"{f.short_day(v.start)} {f.hm(v.start)}–{f.hm(v.end)}",
            "room": _room_name(d, r.room_id),
        }

    moved = [line(r) for r in rehoused if r.room_id]
    lost = [line(r) for r in rehoused if r.room_id is None]
    count = len(changes)
    summary = (
        f"{_room_name(d, room_id)} blokeres {count} gang{'e' if count > 1 else ''}: "
        f"{len(moved)} samtale{'r' if len(moved) != 1 else ''} flyttes, "
        f"{len(lost)} står uden lokale.{_skipped(d, skipped)}"
    )
    return JSONResponse(
        {
            "ok": True,
            "message": summary,
            "periods": count,
            "moved": moved,
            "lost": lost,
            "skipped": [x.isoformat() for x in skipped],
        }
    )


@router.post("/release-block")
def release_block(
    request: Request,
    block_id: int = Form(..., ge=1, le=INT_MAX),
    reason: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    def run(d: Dashboard) -> str:
        change = d.coordination().release_block(block_id, actor=user.actor, reason=reason)
        if change.already:
            f = d.formats
            return (
                f"Blokeringen af {_room_name(d, change.room_id)} "
                f"{f.stamp(change.start)}–{f.stamp(change.end)} var allerede frigivet."
            )
        return _block_message(d, change, "ikke længere blokeret")

    return _respond(request, run, back)


@router.post("/retry")
def retry(
    request: Request,
    outbox_id: int = Form(..., ge=1, le=INT_MAX),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    def run(d: Dashboard) -> str:
        booking_id = d.coordination().retry_outbox(outbox_id, actor=user.actor)
        view = d.rt.bookings.get(booking_id)
        return f"Kalenderopdateringen for {view.reference} prøves igen nu."

    return _respond(request, run, back)
