"""Table definitions. Times are stored in UTC; ``UTCDateTime`` makes that explicit on SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Copenhagen")


class RoomRow(Base):
    __tablename__ = "rooms"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[Any]] = mapped_column(default=list)
    calendar_id: Mapped[str | None] = mapped_column(String(500), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    floor: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CaseworkerRow(Base):
    __tablename__ = "caseworkers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    team: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    calendar_id: Mapped[str | None] = mapped_column(String(500), index=True)
    conversation_types: Mapped[list[Any]] = mapped_column(default=list)
    other_sites: Mapped[list[Any]] = mapped_column(default=list)
    weekly_cap: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConversationTypeRow(Base):
    __tablename__ = "conversation_types"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[int] = mapped_column(Integer)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    modes: Mapped[list[Any]] = mapped_column(default=list)
    min_room_capacity: Mapped[int] = mapped_column(Integer, default=2)
    required_features: Mapped[list[Any]] = mapped_column(default=list)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    horizon_days: Mapped[int] = mapped_column(Integer, default=42)


class SlotRow(Base):
    """A published, bookable time of one caseworker for one conversation type. Whether it is
    free is derived: no live booking overlaps the caseworker's time (see bookings)."""

    __tablename__ = "slots"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    caseworker_id: Mapped[str] = mapped_column(ForeignKey("caseworkers.id"))
    type_code: Mapped[str] = mapped_column(ForeignKey("conversation_types.code"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    strakstid: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(500), default="")
    __table_args__ = (
        Index("ix_slots_type_start", "type_code", "start"),
        Index("ix_slots_caseworker_start", "caseworker_id", "start"),
    )


class BookingRow(Base):
    """A hold (status held) or a booking. ``busy_start``/``busy_end`` widen the conversation by
    its buffers: the caseworker's time that no other live booking may overlap."""

    __tablename__ = "bookings"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    citizen_ref: Mapped[str] = mapped_column(String(200), index=True)
    slot_id: Mapped[str] = mapped_column(String(80))
    caseworker_id: Mapped[str] = mapped_column(ForeignKey("caseworkers.id"))
    type_code: Mapped[str] = mapped_column(ForeignKey("conversation_types.code"))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    busy_start: Mapped[datetime]
    busy_end: Mapped[datetime]
    exclusive: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_wheelchair: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_expires_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    conflict: Mapped[str | None] = mapped_column(Text)
    self_booked: Mapped[bool] = mapped_column(Boolean, default=True)  # booked_by == "citizen"
    booked_by: Mapped[str] = mapped_column(String(16), default="citizen", server_default="citizen")
    client: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The citizen's booking deadline (Fristdato) when the front end sends it: Kapacitet learns
    # from it when citizens book relative to their deadline.
    deadline: Mapped[date | None] = mapped_column(Date)
    __table_args__ = (
        Index("ix_bookings_caseworker_busy", "caseworker_id", "busy_start"),
        Index("ix_bookings_start", "start"),
        Index(
            "uq_bookings_live_slot",
            "slot_id",
            unique=True,
            sqlite_where=text("status IN ('held','confirmed')"),
            postgresql_where=text("status IN ('held','confirmed')"),
        ),
    )


class RoomAllocationRow(Base):
    __tablename__ = "room_allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id"), index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"))
    start: Mapped[datetime]  # buffers included
    end: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_alloc_room_start", "room_id", "start"),)


class RoomBlockRow(Base):
    __tablename__ = "room_blocks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WindowRow(Base):
    """An occurrence of a self-booking window, from a calendar item or a scenario."""

    __tablename__ = "windows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    caseworker_id: Mapped[str] = mapped_column(ForeignKey("caseworkers.id"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    conversation_types: Mapped[list[Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(500), default="")


class BusyRow(Base):
    """Busy time read from a calendar: a caseworker's meetings or a room's foreign meetings."""

    __tablename__ = "busy_times"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # caseworker | room
    owner_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime]
    end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(500), default="")
    __table_args__ = (Index("ix_busy_owner_start", "owner_kind", "owner_id", "start"),)


class CalendarEventRow(Base):
    """An event this daemon wrote (or must write) for a booking, in one calendar."""

    __tablename__ = "calendar_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id"), index=True)
    calendar_id: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(16))  # caseworker | room
    external_id: Mapped[str] = mapped_column(String(200), index=True)
    href: Mapped[str | None] = mapped_column(String(1000))
    etag: Mapped[str | None] = mapped_column(String(200))
    written_start: Mapped[datetime | None]
    written_end: Mapped[datetime | None]
    written_hash: Mapped[str | None] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class OutboxRow(Base):
    """A booking whose calendar events must be brought in line with the store. Reconciling is
    idempotent, so a repeated or coalesced entry does no harm."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_pending", "done_at", "next_attempt_at"),)


class SyncStateRow(Base):
    __tablename__ = "sync_state"
    calendar_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # caseworker | room
    owner_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str | None] = mapped_column(Text)
    marker: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    backoff_until: Mapped[datetime | None]
    force_full: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]


class CalendarItemRow(Base):
    """What we last saw of one item in a calendar (vdirsyncer-style status per item)."""

    __tablename__ = "calendar_items"
    calendar_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    href: Mapped[str] = mapped_column(String(1000), primary_key=True)
    uid: Mapped[str] = mapped_column(String(500), default="")
    etag: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # window | busy | ignore | own
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class QuarantineRow(Base):
    """A calendar item we could not read: listed until the server shows it fixed or deleted,
    and its time (``spans``, see ``mappings.salvage``) stays blocked meanwhile."""

    __tablename__ = "quarantine"
    calendar_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    href: Mapped[str] = mapped_column(String(1000), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    uid: Mapped[str] = mapped_column(String(500), default="", server_default="")
    summary: Mapped[str] = mapped_column(String(200), default="", server_default="")
    spans: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class AuditRow(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    booking_id: Mapped[str | None] = mapped_column(String(40), index=True)
    room_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EventFeedRow(Base):
    """What the front end must hear about (booking moved/cancelled by the caseworker, ...)."""

    __tablename__ = "event_feed"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(64))
    booking_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class CitizenRestrictionRow(Base):
    """Fratagelse: a citizen withdrawn from self-booking, or barred from one caseworker."""

    __tablename__ = "citizen_restrictions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_ref: Mapped[str] = mapped_column(String(200), index=True)
    caseworker_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class ReplicaRow(Base):
    """Which process runs on the store (SQLite: exactly one; PostgreSQL: any number)."""

    __tablename__ = "replicas"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class PushSubscriptionRow(Base):
    """A calendar's push subscription (Graph subscription, EWS streaming subscription): every
    replica can map an incoming notification to its calendar, and ``syncd check``, the metrics
    and the safety-net poll see its state. ``state``: active | pending | broken | removed."""

    __tablename__ = "push_subscriptions"
    calendar_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    backend: Mapped[str] = mapped_column(String(16))
    subscription_id: Mapped[str | None] = mapped_column(String(400), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime | None]
    renew_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_notification_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    # sha256 of the notificationUrl and clientState it was made with (Graph never returns the
    # clientState): a different one after a config change means "make a new subscription".
    fingerprint: Mapped[str | None] = mapped_column(String(64))


class PushHintRow(Base):
    """A notification waiting for the replica that holds the calendar's lease (any replica may
    receive it). ``reason``: changed | missed | removed | reauthorize."""

    __tablename__ = "push_hints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    calendar_id: Mapped[str] = mapped_column(String(500), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class IdempotencyRow(Base):
    """The first answer to a POST sent with an ``Idempotency-Key``: a retry with the same key
    and body gets it again instead of acting twice (IETF draft-ietf-httpapi-idempotency-key).
    Keys are per API client; rows go after ``expires_at``."""

    __tablename__ = "idempotency_keys"
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # method, path and body
    status: Mapped[int | None] = mapped_column(Integer)  # None while the first is in flight
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SessionEndRow(Base):
    """A dashboard session ended by signing out: its cookie stays signed until it expires, so
    the server remembers (by a hash of the session's id) that it no longer counts."""

    __tablename__ = "ended_sessions"
    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInFailureRow(Base):
    """Failed sign-ins per account and per address (hashed keys): too many in a window and the
    key is locked for a while, whatever the password."""

    __tablename__ = "signin_failures"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class DemandRow(Base):
    """Kapacitet: how many citizens of a site (and team) have their deadline in a week, for one
    conversation type. Counts only, never a person (see syncd.capacity.demand)."""

    __tablename__ = "capacity_demand"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    team: Mapped[str] = mapped_column(String(200), default="")  # "" for the whole site
    type_code: Mapped[str] = mapped_column(String(64))
    deadline_week: Mapped[date] = mapped_column(Date)  # Monday of the ISO week
    latest_date: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime]
    __table_args__ = (
        Index(
            "uq_capacity_demand_key", "site_id", "team", "type_code", "deadline_week", unique=True
        ),
    )


class DirectorySourceRow(Base):
    """A caseworker or room as the calendar system's directory lists it (``syncd directory
    sync``); merged under the configuration's own entries at start (TOML overrides)."""

    __tablename__ = "directory_source"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # caseworker | room
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    seen_at: Mapped[datetime]
