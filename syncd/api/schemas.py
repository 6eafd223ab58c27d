"""Request and response bodies of the booking API (they shape the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
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
    code: str = Field(examples=["slot_taken"])
    message: str


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
    id: str
    name: str


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


class RebookIn(_Body):
    offer_id: Ident = Field(min_length=3)


class CancelIn(_Body):
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


class EventOut(BaseModel):
    id: int
    at: datetime
    type: str
    booking_id: str | None
    payload: dict[str, object]


class EventsOut(BaseModel):
    events: list[EventOut]
    next_after: int


class RestrictionIn(_Body):
    citizen_ref: Ident
    caseworker_id: Ident | None = Field(
        None, description="Bar the citizen from this caseworker only; omit to withdraw entirely."
    )
    reason: FreeText = ""
