"""The coordinator's actions. Every one is a POST that needs the coordinator role and the
session's CSRF token (see ``app.coordinator``); the work itself is one call to the
coordination service, which audits it under the signed-in user's name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from syncd.inputs import INT_MAX, day_in_window
from syncd.store.coordination import BlockChange, Rehoused, RoomChange
from syncd.store.errors import BookingError, InvalidError
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


def _changed(d: Dashboard, change: RoomChange, verb: str) -> str:
    return f"{change.reference} er {verb} {_room_name(d, change.room_id)}.{_rehoused(d, change.rehoused)}"


@router.post("/pin")
def pin(
    request: Request,
    booking_id: str = Form(...),
    room_id: str = Form(""),
    reason: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    return _respond(
        request,
        lambda d: _changed(
            d, d.coordination().pin(booking_id, room_id or None, actor=user.actor, reason=reason),
            "fastgjort i",
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
        return f"{change.reference} er ikke længere fastgjort."

    return _respond(request, run, back)


@router.post("/move")
def move(
    request: Request,
    booking_id: str = Form(...),
    room_id: str = Form(...),
    reason: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    return _respond(
        request,
        lambda d: _changed(
            d, d.coordination().move(booking_id, room_id, actor=user.actor, reason=reason),
            "flyttet til",
        ),
        back,
    )  # fmt: skip


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
    return moment.replace(tzinfo=d.rt.zone) if moment.tzinfo is None else moment


def _block_message(d: Dashboard, change: BlockChange, verb: str) -> str:
    f = d.formats
    period = f"{f.stamp(change.start)}–{f.stamp(change.end)}"
    return f"{_room_name(d, change.room_id)} er {verb} {period}.{_rehoused(d, change.rehoused)}"


@router.post("/block")
def block(
    request: Request,
    room_id: str = Form(...),
    start: str = Form(...),
    end: str = Form(...),
    reason: str = Form(""),
    back: str = Form(""),
    user: User = Coordinator,
) -> Response:
    def run(d: Dashboard) -> str:
        change = d.coordination().block_room(
            room_id, _local(d, start, "start"), _local(d, end, "slut"), actor=user.actor,
            reason=reason,
        )  # fmt: skip
        return _block_message(d, change, "blokeret")

    return _respond(request, run, back)


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
        return f"Kalenderskrivningen for {view.reference} prøves igen nu."

    return _respond(request, run, back)
