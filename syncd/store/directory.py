"""Writing the configured directory (sites, rooms, caseworkers, types) into the store, and
reading it back as domain values the operations keep in memory."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd.domain.model import Caseworker, ConversationType, Directory, Mode, Room, Site
from syncd.rooms.model import RoomSpec
from syncd.store.tables import CaseworkerRow, ConversationTypeRow, RoomRow, SiteRow


def save_directory(session: Session, directory: Directory) -> None:
    """Upsert everything the directory declares; rows it no longer names are marked inactive
    (never deleted: bookings refer to them)."""
    for site in directory.sites:
        session.merge(SiteRow(id=site.id, name=site.name, timezone=site.timezone))
    session.flush()
    for t in directory.conversation_types:
        session.merge(
            ConversationTypeRow(
                code=t.code,
                title=t.title,
                minutes=t.minutes,
                buffer_before_minutes=t.buffer_before_minutes,
                buffer_after_minutes=t.buffer_after_minutes,
                modes=[m.value for m in t.modes],
                min_room_capacity=t.min_room_capacity,
                required_features=sorted(t.required_features),
                min_notice_minutes=t.min_notice_minutes,
                horizon_days=t.horizon_days,
            )
        )
    room_ids = {r.id for r in directory.rooms}
    for r in directory.rooms:
        session.merge(
            RoomRow(
                id=r.id,
                site_id=r.site_id,
                name=r.name,
                capacity=r.capacity,
                features=sorted(r.features),
                calendar_id=r.calendar_id,
                email=r.email,
                floor=r.floor,
                active=True,
            )
        )
    cw_ids = {c.id for c in directory.caseworkers}
    for c in directory.caseworkers:
        session.merge(
            CaseworkerRow(
                id=c.id,
                name=c.name,
                site_id=c.site_id,
                team=c.team,
                email=c.email,
                calendar_id=c.calendar_id,
                conversation_types=list(c.conversation_types),
                other_sites=list(c.other_sites),
                weekly_cap=c.weekly_cap,
                active=True,
            )
        )
    session.flush()
    for room in session.scalars(select(RoomRow).where(RoomRow.active)):
        if room.id not in room_ids:
            room.active = False
    for cw in session.scalars(select(CaseworkerRow).where(CaseworkerRow.active)):
        if cw.id not in cw_ids:
            cw.active = False


def load_directory(session: Session, closing_days: tuple[str, ...] = ()) -> Directory:
    sites = tuple(Site(s.id, s.name, s.timezone) for s in session.scalars(select(SiteRow)))
    rooms = tuple(
        Room(
            r.id,
            r.site_id,
            r.name,
            r.capacity,
            frozenset(r.features),
            r.calendar_id,
            r.email,
            r.floor,
        )
        for r in session.scalars(select(RoomRow).where(RoomRow.active).order_by(RoomRow.id))
    )
    caseworkers = tuple(
        Caseworker(
            c.id,
            c.name,
            c.site_id,
            c.team,
            c.email,
            c.calendar_id,
            tuple(c.conversation_types),
            tuple(c.other_sites),
            c.weekly_cap,
        )
        for c in session.scalars(
            select(CaseworkerRow).where(CaseworkerRow.active).order_by(CaseworkerRow.id)
        )
    )
    types = tuple(
        ConversationType(
            t.code,
            t.title,
            t.minutes,
            t.buffer_before_minutes,
            t.buffer_after_minutes,
            tuple(Mode(m) for m in t.modes),
            t.min_room_capacity,
            frozenset(t.required_features),
            t.min_notice_minutes,
            t.horizon_days,
        )
        for t in session.scalars(select(ConversationTypeRow).order_by(ConversationTypeRow.code))
    )
    return Directory(sites, rooms, caseworkers, types, closing_days)


@dataclass
class DirectoryIndex:
    """The directory with look-ups by id, kept in memory by the operations."""

    directory: Directory
    sites: dict[str, Site] = field(init=False)
    rooms: dict[str, Room] = field(init=False)
    caseworkers: dict[str, Caseworker] = field(init=False)
    types: dict[str, ConversationType] = field(init=False)
    rooms_by_site: dict[str, list[Room]] = field(init=False)
    caseworkers_by_calendar: dict[str, Caseworker] = field(init=False)
    rooms_by_calendar: dict[str, Room] = field(init=False)
    room_specs_by_site: dict[str, list[RoomSpec]] = field(init=False)  # as the allocator sees them
    caseworker_labels: dict[str, str] = field(init=False)  # names told apart, for screens

    def __post_init__(self) -> None:
        d = self.directory
        self.sites = {s.id: s for s in d.sites}
        self.rooms = {r.id: r for r in d.rooms}
        self.caseworkers = {c.id: c for c in d.caseworkers}
        self.types = {t.code: t for t in d.conversation_types}
        self.rooms_by_site = {}
        for r in d.rooms:
            self.rooms_by_site.setdefault(r.site_id, []).append(r)
        self.caseworkers_by_calendar = {c.calendar_id: c for c in d.caseworkers if c.calendar_id}
        self.rooms_by_calendar = {r.calendar_id: r for r in d.rooms if r.calendar_id}
        self.room_specs_by_site = {
            site: [RoomSpec(r.id, r.site_id, r.capacity, r.features, r.floor) for r in rooms]
            for site, rooms in self.rooms_by_site.items()
        }
        self.caseworker_labels = caseworker_labels(d.caseworkers)


def caseworker_labels(caseworkers: Iterable[Caseworker]) -> dict[str, str]:
    """What screens call each caseworker: the name, and where two share it, the team too
    ("Tina Madsen (Dagpenge)"), or the id (their initials) when the team does not tell them
    apart either."""
    people = list(caseworkers)
    by_name: dict[str, list[Caseworker]] = {}
    for c in people:
        by_name.setdefault(c.name.casefold(), []).append(c)
    labels = {}
    for c in people:
        namesakes = by_name[c.name.casefold()]
        if len(namesakes) == 1:
            labels[c.id] = c.name
        elif c.team and sum(1 for o in namesakes if o.team == c.team) == 1:
            labels[c.id] = f"{c.name} ({c.team})"
        else:
            labels[c.id] = f"{c.name} ({c.id})"
    return labels


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that puts L2 before L10 (numbers compared as numbers)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", text)
        if part
    )
