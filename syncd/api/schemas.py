"""Request and response bodies of the booking API (they shape the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from syncd.domain.model import Mode
from syncd.inputs import ID_MAX, ID_PATTERN, TEXT_MAX, TEXT_PATTERN

# Identifiers and references: printable, at most 200 characters.
Ident = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
# Free text (reasons): line breaks allowed, no other control characters, at most 500.
FreeText = Annotated[str, StringConstraints(max_length=TEXT_MAX, pattern=TEXT_PATTERN)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable, machine-readable; the codes each status can carry are listed with "
        "each operation's responses.",
        examples=["slot_taken"],
    )
    message: str = Field(
        description="For people (English); never echoes the input.",
        examples=["the time was just taken"],
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class ConversationTypeOut(BaseModel):
    code: str
    title: str
    minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    modes: list[Mode]
    min_room_capacity: int
    required_features: list[str]
    min_notice_minutes: int
    horizon_days: int


class SiteOut(BaseModel):
    id: str = Field(examples=["lilleby"])
    name: str = Field(examples=["Jobcenter Lilleby"])


class RoomOut(BaseModel):
    id: str = Field(examples=["L1"])
    site_id: str = Field(examples=["lilleby"])
    name: str = Field(examples=["Mødelokale L1"])
    capacity: int = Field(description="Seats", examples=[2])
    features: list[str] = Field(examples=[["wheelchair"]])
    floor: str | None = Field(None, examples=["1. sal"])


class CaseworkerOut(BaseModel):
    id: str
    name: str
    site_id: str
    team: str | None
    conversation_types: list[str]


class OfferOut(BaseModel):
    offer_id: str
    caseworker_id: str
    site_id: str
    type: str
    mode: Mode
    start: datetime
    end: datetime
    strakstid: bool = False


class OffersOut(BaseModel):
    offers: list[OfferOut]
    truncated: bool


class HoldIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"offer_id": "s-mette-20261201T0900~in_person", "citizen_ref": "c-7f3a"}]
        },
    )

    offer_id: Ident = Field(min_length=3)
    citizen_ref: Ident = Field(
        description="An opaque reference to the citizen. Never a CPR number: those are refused.",
    )
    needs_wheelchair: bool = False
    booked_by: Literal["citizen", "staff"] | None = Field(
        None,
        description="Who is booking: the citizen through self-service, or staff on the citizen's "
        "behalf. Counted in the self-booking figures; defaults to the API key's `books_as`.",
    )
    deadline: date | None = Field(
        None,
        description="The citizen's booking deadline (Fristdato), if the front end knows it. "
        "Kapacitet learns from it when citizens book relative to their deadline.",
    )


class RebookIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"offer_id": "s-mette-20261202T1000~in_person"}]},
    )

    offer_id: Ident = Field(min_length=3)


class CancelIn(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "syg"}]})

    reason: FreeText = ""


class BookingOut(BaseModel):
    id: str
    reference: str
    status: str
    caseworker_id: str
    type: str
    mode: Mode
    start: datetime
    end: datetime
    room_id: str | None
    room_name: str | None
    location: str | None
    hold_expires_at: datetime | None
    cancelled_by: str | None
    conflict: str | None


EVENT_TYPES = {
    "booking.confirmed": "a hold became a booking",
    "booking.cancelled": "cancelled by the citizen (API) or the caseworker (calendar)",
    "booking.rebooked": "moved to another offer through the API (`previous` has the old time)",
    "booking.moved": "the caseworker moved the meeting in her calendar",
    "booking.room_changed": "the conversation has another room (`previous_room` when known)",
    "booking.room_lost": "no room could be kept for the conversation; staff are told",
    "booking.conflict": "the calendar changed in a way the booking cannot follow (`reason`)",
}


class EventPayload(BaseModel):
    """What changed. Which fields an event carries depends on its type; new fields may be
    added, so ignore the ones you do not know."""

    model_config = ConfigDict(extra="allow")

    reference: str | None = Field(None, description="The booking's reference", examples=["R-8K2Q"])
    caseworker_id: str | None = Field(None, examples=["mette"])
    type: str | None = Field(None, description="Conversation type code", examples=["jobsamtale"])
    mode: Mode | None = None
    start: str | None = Field(None, description="ISO 8601", examples=["2026-12-01T09:00:00+00:00"])
    end: str | None = Field(None, description="ISO 8601", examples=["2026-12-01T09:30:00+00:00"])
    status: str | None = Field(None, examples=["confirmed"])
    room: str | None = Field(None, description="Room id, or null without a room", examples=["L1"])
    previous_room: str | None = None
    by: str | None = Field(None, description="citizen or caseworker", examples=["citizen"])
    reason: str | None = Field(None, description="Why (conflicts)")
    previous: dict[str, object] | None = Field(None, description="The old time (rebooked)")


class EventOut(BaseModel):
    id: int = Field(description="Increasing; pass the last one seen as `after`", examples=[42])
    at: datetime
    type: str = Field(
        description="One of: " + "; ".join(f"`{k}`: {v}" for k, v in EVENT_TYPES.items()),
        examples=["booking.confirmed"],
    )
    booking_id: str | None = Field(examples=["b-3f9c2a1d"])
    payload: EventPayload


class EventsOut(BaseModel):
    events: list[EventOut]
    next_after: int


class RestrictionIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"citizen_ref": "c-7f3a", "caseworker_id": "mette", "reason": "aftalt"}]
        },
    )

    citizen_ref: Ident
    caseworker_id: Ident | None = Field(
        None, description="Bar the citizen from this caseworker only; omit to withdraw entirely."
    )
    reason: FreeText = ""
