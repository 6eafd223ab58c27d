"""The one protocol every calendar backend implements.

Nothing outside ``connectors/`` imports a calendar library. The engine sees plain values:
``CalendarItem`` for what it reads, ``EventDraft`` for what it writes, and the exceptions below
for what went wrong. Every backend passes the same contract suite (tests/contract).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

CalendarKind = Literal["caseworker", "room", "unknown"]


@dataclass(frozen=True)
class CalendarInfo:
    """A calendar the connector can see (a caseworker's own calendar or a room's)."""

    calendar_id: str  # CalDAV: collection URL; Exchange/Graph: mailbox SMTP address
    name: str
    kind: CalendarKind = "unknown"
    email: str | None = None
    capacity: int | None = None  # rooms, where the backend knows it (Places API, GetRooms)
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CalendarItem:
    """One stored calendar object as the backend holds it (a single event or a whole series).

    Times are aware datetimes in the item's own zone (so recurrence expands in local time across
    DST changes), or ``date`` values for all-day items. Recurrence is left for ``mappings`` to
    expand: ``rrule`` is the RFC 5545 RRULE value, ``exdates``/``rdates`` its exceptions, and
    ``overrides`` the modified occurrences (each with ``recurrence_id`` set).
    """

    href: str  # backend identity of the stored object; stable across updates
    uid: str
    summary: str
    start: datetime | date
    end: datetime | date
    etag: str | None = None
    transparent: bool = False  # TRANSP:TRANSPARENT / showAs=free
    status: str = "CONFIRMED"  # CONFIRMED | TENTATIVE | CANCELLED
    categories: tuple[str, ...] = ()
    location: str = ""
    description: str = ""
    external_id: str | None = None  # set only on items this daemon created
    rrule: str | None = None
    exdates: tuple[datetime | date, ...] = ()
    rdates: tuple[datetime | date, ...] = ()
    recurrence_id: datetime | date | None = None
    overrides: tuple[CalendarItem, ...] = ()
    # Response of resource attendees (room mailboxes) by e-mail: ACCEPTED | DECLINED | TENTATIVE | NEEDS-ACTION
    attendee_status: Mapping[str, str] = field(default_factory=dict)
    tzid: str | None = None  # the zone name as the server sent it (may be a Windows name)

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True)
class Unreadable:
    """An item that could not be parsed, with what a coordinator needs to find it (UID, a
    summary without CPR numbers) and the time it may occupy (``mappings.salvage`` spans): an
    unreadable meeting still blocks its time."""

    href: str
    reason: str
    uid: str = ""
    summary: str = ""
    spans: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ChangeSet:
    """What changed in one calendar since a sync token.

    ``full`` means the listing is complete: the engine treats every known item that is absent as
    deleted (used after a token became invalid, or on the first sync).
    """

    changed: Sequence[CalendarItem]
    deleted: Sequence[str]  # hrefs
    token: str
    full: bool = False
    # Items that could not be parsed, as ``Unreadable`` (or plain (href, reason)): one bad
    # item never stops the others; the engine quarantines these instead of treating them as
    # deleted, and keeps them listed until the server shows them fixed or gone.
    quarantined: Sequence[Unreadable | tuple[str, str]] = ()


@dataclass(frozen=True)
class EventDraft:
    """An event this daemon owns, as it should look in a calendar. ``external_id`` is the key."""

    external_id: str
    summary: str
    start: datetime
    end: datetime
    location: str = ""
    description: str = ""
    private: bool = True
    categories: tuple[str, ...] = ()
    transparent: bool = False
    resources: tuple[str, ...] = ()  # room mailboxes invited as resource attendees (Exchange/Graph)
    reminder_minutes: int | None = None  # a reminder this long before the start; None: none


@dataclass(frozen=True)
class WriteResult:
    href: str
    etag: str | None = None
    created: bool = False  # False when the event already existed (idempotent repeat)


@dataclass(frozen=True)
class BusyInterval:
    start: datetime
    end: datetime
    status: str = "BUSY"  # BUSY | TENTATIVE | OOF


@dataclass(frozen=True)
class ProbeResult:
    """What ``syncd check`` prints for one mailbox or room calendar."""

    calendar_id: str
    reachable: bool
    writable: bool
    error: str | None = None  # the server's own error text when not reachable/writable


class ConnectorError(Exception):
    """A backend failed; ``calendar_id`` says where, the message carries the server's own text."""

    def __init__(self, message: str, *, calendar_id: str | None = None) -> None:
        super().__init__(message)
        self.calendar_id = calendar_id


class Throttled(ConnectorError):
    """The server asked us to back off (429/503 Retry-After, EWS BackOffMilliseconds)."""

    def __init__(self, message: str, *, retry_after: float, calendar_id: str | None = None):
        super().__init__(message, calendar_id=calendar_id)
        self.retry_after = retry_after


class SyncTokenInvalid(ConnectorError):
    """The stored sync token/state/delta link is no longer accepted: do a full resync."""


class PermissionDenied(ConnectorError):
    """The service account may not read or write this calendar."""


class NotFound(ConnectorError):
    """The calendar or item does not exist."""


class WriteConflict(ConnectorError):
    """Someone changed the item underneath us (412). Re-read; never overwrite another writer."""


class NotOwned(ConnectorError):
    """Refused: the item carries no external id of ours, so this daemon must not touch it."""


@runtime_checkable
class Connector(Protocol):
    """A calendar backend. Implementations are thread-safe; the engine calls them from a pool."""

    name: str

    def list_calendars(self) -> list[CalendarInfo]:
        """Calendars (caseworker and room) that the service account can see."""
        ...

    def change_markers(self, calendar_ids: Sequence[str]) -> dict[str, str]:
        """A cheap change marker (ctag / sync token / delta hint) per calendar, in as few requests
        as the backend allows. A calendar whose marker is unchanged since the last sync is skipped
        by the engine. Calendars the backend cannot answer for are left out of the result."""
        ...

    def fetch_changes(
        self, calendar_id: str, token: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        """Items changed since ``token`` (``None``: everything, ``full=True``). ``start``/``end``
        bound the time range that matters (backends with calendar views use it). Raises
        ``SyncTokenInvalid`` when the token is no longer accepted."""
        ...

    def upsert_event(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        """Create the event or bring our existing event (found by external id) in line with the
        draft. Repeating it never makes a second event."""
        ...

    def delete_event(self, calendar_id: str, external_id: str) -> bool:
        """Delete our event; False when it was already gone. Never touches items not ours."""
        ...

    def free_busy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[BusyInterval]]:
        """Busy intervals per calendar in [start, end)."""
        ...

    def probe(self, calendar_id: str) -> ProbeResult:
        """Can we read this calendar, and may we write to it? Never leaves anything behind."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """A server-side subscription to one calendar's changes (Graph ``subscription``)."""

    calendar_id: str
    subscription_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Notice:
    """One notification as received, not yet trusted: ``client_state`` must be checked against
    what we gave the subscription. ``lifecycle`` is None for a change, else
    ``reauthorizationRequired`` | ``subscriptionRemoved`` | ``missed``."""

    subscription_id: str
    client_state: str | None
    lifecycle: str | None = None
    change_type: str | None = None


class PushListener(Protocol):
    """What a push source tells the engine. Never data: only "look at this calendar now"."""

    def changed(self, calendar_id: str, reason: str = "changed") -> None: ...

    def status(self, calendar_id: str, state: str, detail: str | None = None) -> None:
        """``state``: active | pending | broken (push refused: poll fast)."""
        ...


@runtime_checkable
class WebhookSource(Protocol):
    """A backend that posts notifications to an HTTPS endpoint of ours (Graph change
    notifications). The engine keeps the subscriptions; the API serves the endpoint."""

    max_subscription_lifetime: timedelta

    def subscribe(
        self,
        calendar_ids: Sequence[str],
        notification_url: str,
        client_state: Callable[[str], str],
        expires: datetime,
    ) -> dict[str, Subscription | ConnectorError]: ...

    def renew(
        self, subscription_ids: Sequence[str], expires: datetime
    ) -> dict[str, datetime | ConnectorError]:
        """Extend (and so also reauthorize) subscriptions; ``NotFound`` when one is gone."""
        ...

    def unsubscribe(self, subscription_ids: Sequence[str]) -> None: ...

    def parse_notifications(self, body: bytes) -> list[Notice]:
        """The notifications in one POST to the endpoint; ``ValueError`` when it is not one."""
        ...


@runtime_checkable
class PushSource(Protocol):
    """Optional: a backend that streams changes over a connection we hold open (EWS streaming
    notifications). Polling stays the safety net."""

    def watch(
        self,
        wanted: Callable[[], Collection[str]],
        listener: PushListener,
        stop: threading.Event,
    ) -> None:
        """Block until ``stop`` is set, keeping subscriptions for the calendars ``wanted()``
        returns (it changes as leases move) and calling ``listener`` as changes arrive."""
        ...
