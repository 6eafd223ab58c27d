"""The booking API: thin HTTP over the booking operations. No calendar I/O in a request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from syncd.api.auth import ApiKeys, Client
from syncd.api.ops import mount_ops
from syncd.api.schemas import (
    BookingOut,
    CancelIn,
    CaseworkerOut,
    ConversationTypeOut,
    ErrorResponse,
    EventOut,
    EventsOut,
    HoldIn,
    OfferOut,
    OffersOut,
    RebookIn,
    RestrictionIn,
    SiteOut,
)
from syncd.domain.model import CancelledBy, Mode
from syncd.runtime import Runtime
from syncd.store.bookings import BookingView
from syncd.store.errors import BookingError, InvalidError
from syncd.store.offers import OfferQuery, find_offers
from syncd.store.tables import EventFeedRow
from syncd.web import mount_dashboard

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": ErrorResponse, "description": "Citizen withdrawn or barred"},
    404: {"model": ErrorResponse, "description": "Unknown offer, hold or booking"},
    409: {"model": ErrorResponse, "description": "Taken, expired or no room"},
    422: {"model": ErrorResponse, "description": "Invalid input (including CPR numbers)"},
}


async def _client(request: Request) -> Client:
    """Async on purpose: a plain ``def`` dependency costs every request a trip through the
    thread pool for a hash and a dict lookup."""
    keys: ApiKeys = request.app.state.api_keys
    return keys.authenticate(request)


Authed = Annotated[Client, Depends(_client)]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(rt: Runtime) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Requests run in threads; as many at once as the store's pool has connections.
        anyio.to_thread.current_default_thread_limiter().total_tokens = rt.config.api.threads
        yield

    app = FastAPI(
        title="Selvbook syncd booking API",
        version="1",
        description="Offers, holds and bookings of jobcentre conversations for self-booking.",
        lifespan=lifespan,
    )
    app.state.api_keys = ApiKeys(
        {k.resolved_hash(): Client(k.name, frozenset(k.scopes)) for k in rt.config.api.keys}
    )
    app.state.runtime = rt
    if rt.config.dashboard.enabled:
        mount_dashboard(app, rt)
    mount_ops(app, rt)

    @app.exception_handler(BookingError)
    async def _booking_error(_: Request, exc: BookingError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it could hold a CPR number.
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    def booking_json(view: BookingView, status_code: int = 200) -> Response:
        """The booking as JSON, serialised here (pydantic's Rust core) rather than by FastAPI,
        which would validate the model a second time on another trip through the thread pool.
        ``response_model`` on the routes still documents it."""
        return Response(
            booking_out(view).model_dump_json(),
            status_code=status_code,
            media_type="application/json",
        )

    def booking_out(view: BookingView) -> BookingOut:
        room = rt.index.rooms.get(view.room_id) if view.room_id else None
        site = rt.index.sites.get(room.site_id) if room else None
        return BookingOut(
            id=view.id,
            reference=view.reference,
            status=view.status,
            caseworker_id=view.caseworker_id,
            type=view.type_code,
            mode=Mode(view.mode),
            start=view.start,
            end=view.end,
            room_id=view.room_id,
            room_name=room.name if room else None,
            location=f"{room.name}, {site.name}" if room and site else None,
            hold_expires_at=view.hold_expires_at,
            cancelled_by=view.cancelled_by,
            conflict=view.conflict,
        )

    @app.get(
        "/api/v1/conversation-types", response_model=list[ConversationTypeOut], responses=ERRORS
    )
    def conversation_types(_: Authed) -> list[ConversationTypeOut]:
        return [
            ConversationTypeOut(
                code=t.code,
                title=t.title,
                minutes=t.minutes,
                buffer_before_minutes=t.buffer_before_minutes,
                buffer_after_minutes=t.buffer_after_minutes,
                modes=list(t.modes),
                min_room_capacity=t.min_room_capacity,
                required_features=sorted(t.required_features),
                min_notice_minutes=t.min_notice_minutes,
                horizon_days=t.horizon_days,
            )
            for t in rt.index.directory.conversation_types
        ]

    @app.get("/api/v1/sites", response_model=list[SiteOut], responses=ERRORS)
    def sites(_: Authed) -> list[SiteOut]:
        return [SiteOut(id=s.id, name=s.name) for s in rt.index.directory.sites]

    @app.get("/api/v1/caseworkers", response_model=list[CaseworkerOut], responses=ERRORS)
    def caseworkers(
        _: Authed,
        site: str | None = None,
        type: Annotated[str | None, Query(alias="type")] = None,
    ) -> list[CaseworkerOut]:
        return [
            CaseworkerOut(
                id=c.id,
                name=c.name,
                site_id=c.site_id,
                team=c.team,
                conversation_types=list(c.conversation_types),
            )
            for c in rt.index.directory.caseworkers
            if (site is None or site in c.sites) and (type is None or type in c.conversation_types)
        ]

    @app.get("/api/v1/offers", response_model=OffersOut, responses=ERRORS)
    def offers(
        who: Authed,
        type: Annotated[
            str | None, Query(alias="type", description="Conversation type code")
        ] = None,
        mode: Annotated[list[Mode] | None, Query()] = None,
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        caseworker: str | None = None,
        site: str | None = None,
        wheelchair: bool = False,
        strakstid: Annotated[
            bool, Query(description="Staff keys only: include held-back times")
        ] = False,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> OffersOut:
        if type is not None and type not in rt.index.types:
            raise InvalidError(f"unknown conversation type {type!r}", code="unknown_type")
        now = rt.clock()
        start = _aware(from_, "from") if from_ else now
        end = _aware(to, "to") if to else now + timedelta(days=42)
        if end <= start:
            raise _invalid_range()
        if end - start > timedelta(days=366):
            raise _invalid_range("the period may be at most 366 days")
        q = OfferQuery(
            start=start,
            end=end,
            type_code=type,
            modes=tuple(mode) if mode else (Mode.IN_PERSON, Mode.PHONE, Mode.VIDEO),
            caseworker_id=caseworker,
            site_id=site,
            needs_wheelchair=wheelchair,
            include_strakstid=strakstid and who.staff,
            limit=limit + 1,
        )
        with rt.db.read() as s:
            found = find_offers(s, rt.index, q, now, rt.zone)
        return OffersOut(
            offers=[
                OfferOut(
                    offer_id=o.offer_id,
                    caseworker_id=o.caseworker_id,
                    site_id=o.site_id,
                    type=o.type_code,
                    mode=o.mode,
                    start=o.start,
                    end=o.end,
                    strakstid=o.strakstid,
                )
                for o in found[:limit]
            ],
            truncated=len(found) > limit,
        )

    @app.post("/api/v1/holds", response_model=BookingOut, status_code=201, responses=ERRORS)
    def reserve(body: HoldIn, who: Authed) -> Response:
        view = rt.bookings.reserve(
            body.offer_id,
            body.citizen_ref,
            needs_wheelchair=body.needs_wheelchair,
            client=who.name,
            staff=who.staff,
        )
        return booking_json(view, 201)

    @app.get("/api/v1/holds/{hold_id}", response_model=BookingOut, responses=ERRORS)
    def get_hold(hold_id: str, _: Authed) -> Response:
        return booking_json(rt.bookings.get(hold_id))

    @app.post("/api/v1/holds/{hold_id}/confirm", response_model=BookingOut, responses=ERRORS)
    def confirm(hold_id: str, who: Authed) -> Response:
        return booking_json(rt.bookings.confirm(hold_id, client=who.name))

    @app.delete("/api/v1/holds/{hold_id}", response_model=BookingOut, responses=ERRORS)
    def release(hold_id: str, who: Authed) -> Response:
        return booking_json(rt.bookings.release(hold_id, client=who.name))

    @app.get("/api/v1/bookings/{booking_id}", response_model=BookingOut, responses=ERRORS)
    def get_booking(booking_id: str, _: Authed) -> Response:
        return booking_json(rt.bookings.get(booking_id))

    @app.post("/api/v1/bookings/{booking_id}/cancel", response_model=BookingOut, responses=ERRORS)
    def cancel(booking_id: str, who: Authed, body: CancelIn | None = None) -> Response:
        return booking_json(
            rt.bookings.cancel(
                booking_id,
                by=CancelledBy.CITIZEN,
                actor=who.name,
                reason=body.reason if body else "",
            )
        )

    @app.post("/api/v1/bookings/{booking_id}/rebook", response_model=BookingOut, responses=ERRORS)
    def rebook(booking_id: str, body: RebookIn, who: Authed) -> Response:
        return booking_json(
            rt.bookings.rebook(booking_id, body.offer_id, client=who.name, staff=who.staff)
        )

    @app.get("/api/v1/events", response_model=EventsOut, responses=ERRORS)
    def events(
        _: Authed,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EventsOut:
        with rt.db.read() as s:
            rows = list(
                s.scalars(
                    select(EventFeedRow)
                    .where(EventFeedRow.id > after)
                    .order_by(EventFeedRow.id)
                    .limit(limit)
                )
            )
        return EventsOut(
            events=[
                EventOut(id=r.id, at=r.at, type=r.type, booking_id=r.booking_id, payload=r.payload)
                for r in rows
            ],
            next_after=rows[-1].id if rows else after,
        )

    @app.get("/api/v1/status", responses=ERRORS)
    def status(who: Authed) -> dict[str, Any]:
        """For staff keys: calendars with errors or back-off, quarantined items, failing writes."""
        if not who.staff:
            raise HTTPException(403, "a staff key is needed")
        from syncd.store.tables import OutboxRow, QuarantineRow, SyncStateRow

        with rt.db.read() as s:
            problems = [
                {
                    "calendar": st.calendar_id, "kind": st.kind, "owner": st.owner_id,
                    "last_success_at": st.last_success_at, "error": st.last_error,
                    "backoff_until": st.backoff_until,
                }
                for st in s.scalars(select(SyncStateRow).where(SyncStateRow.last_error.is_not(None)))
            ]  # fmt: skip
            quarantined = [
                {
                    "calendar": q.calendar_id,
                    "href": q.href,
                    "reason": q.reason,
                    "since": q.first_seen,
                }
                for q in s.scalars(select(QuarantineRow))
            ]
            failing = [
                {
                    "id": o.id,
                    "booking_id": o.booking_id,
                    "attempts": o.attempts,
                    "error": o.last_error,
                }
                for o in s.scalars(
                    select(OutboxRow).where(
                        OutboxRow.done_at.is_(None), OutboxRow.last_error.is_not(None)
                    )
                )
            ]
        return {
            "calendars_with_errors": problems,
            "quarantined": quarantined,
            "outbox_failing": failing,
        }

    @app.post("/api/v1/restrictions", status_code=204, responses=ERRORS)
    def add_restriction(body: RestrictionIn, who: Authed) -> None:
        rt.bookings.add_restriction(body.citizen_ref, body.caseworker_id, body.reason, who.name)

    @app.delete("/api/v1/restrictions/{citizen_ref}", status_code=204, responses=ERRORS)
    def remove_restriction(citizen_ref: str, who: Authed) -> None:
        rt.bookings.remove_restrictions(citizen_ref, who.name)

    return app


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidError(f"{name} must carry a UTC offset (e.g. 2026-12-01T09:00:00+01:00)")
    return value


def _invalid_range(message: str = "'to' must be after 'from'") -> Exception:
    return InvalidError(message, code="invalid_period")
