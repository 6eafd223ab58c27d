"""The directory of a jobcentre and the states of a booking, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Literal

BookedBy = Literal["citizen", "staff"]
"""Who booked a conversation: the citizen through self-service (Jobnet), or staff on the
citizen's behalf. The self-booking figures count this, not the API key's scopes."""


class Mode(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"

    @property
    def needs_room(self) -> bool:
        return self is Mode.IN_PERSON


class BookingStatus(StrEnum):
    HELD = "held"  # reserved, waiting for the citizen to confirm
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a hold that ran out
    RELEASED = "released"  # a hold given back before it ran out

    @property
    def live(self) -> bool:
        return self in (BookingStatus.HELD, BookingStatus.CONFIRMED)


LIVE_STATUSES = (BookingStatus.HELD.value, BookingStatus.CONFIRMED.value)


class CancelledBy(StrEnum):
    CITIZEN = "citizen"
    CASEWORKER = "caseworker"
    SYSTEM = "system"


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    timezone: str = "Europe/Copenhagen"


@dataclass(frozen=True)
class Room:
    id: str
    site_id: str
    name: str
    capacity: int
    features: frozenset[str] = frozenset()
    calendar_id: str | None = None
    email: str | None = None
    floor: str | None = None


@dataclass(frozen=True)
class ConversationType:
    code: str
    title: str
    minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    modes: tuple[Mode, ...] = (Mode.IN_PERSON, Mode.PHONE, Mode.VIDEO)
    min_room_capacity: int = 2
    required_features: frozenset[str] = frozenset()
    min_notice_minutes: int = 24 * 60
    horizon_days: int = 42

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)

    @property
    def step(self) -> timedelta:
        """Offers in a window follow each other at conversation plus buffers (09:00, 09:40, ...)."""
        return self.duration + self.buffer_before + self.buffer_after


@dataclass(frozen=True)
class Caseworker:
    id: str
    name: str
    site_id: str
    team: str | None = None
    email: str | None = None
    calendar_id: str | None = None
    conversation_types: tuple[str, ...] = ()
    other_sites: tuple[str, ...] = ()
    weekly_cap: int | None = None

    @property
    def sites(self) -> frozenset[str]:
        return frozenset((self.site_id, *self.other_sites))


@dataclass(frozen=True)
class Directory:
    """Everything static about one jobcentre: what the config (or a scenario) declares."""

    sites: tuple[Site, ...] = ()
    rooms: tuple[Room, ...] = ()
    caseworkers: tuple[Caseworker, ...] = ()
    conversation_types: tuple[ConversationType, ...] = ()
    closing_days: tuple[str, ...] = field(default=())  # ISO dates, local closing days
