"""Wiring: configuration -> database -> directory -> services. One object the CLI, the API and
the engine share, so every part sees the same directory and clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from syncd.config import Config
from syncd.domain.clock import Clock, utcnow
from syncd.domain.model import Directory
from syncd.store.bookings import BookingService
from syncd.store.db import Database
from syncd.store.directory import DirectoryIndex, load_directory, save_directory


@dataclass
class Runtime:
    config: Config
    db: Database
    index: DirectoryIndex
    bookings: BookingService
    clock: Clock = utcnow
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    @property
    def closing_days(self) -> frozenset[date]:
        return frozenset(date.fromisoformat(d) for d in self.config.publishing.closing_days)

    def resave_directory(self) -> None:
        """Write the configured directory merged with what the directory sync found (the
        configuration wins), then reload it."""
        base = self.extras.get("base_directory")
        if isinstance(base, Directory):
            with self.db.write() as s:
                save_directory(s, _with_synced(s, base, self.config))
        self.reload_directory()

    def reload_directory(self) -> None:
        with self.db.read() as s:
            self.index = DirectoryIndex(load_directory(s, self.config.publishing.closing_days))
        self.bookings.index = self.index


def with_calendar_ids(directory: Directory, config: Config) -> Directory:
    """Fill in calendars the directory leaves open from the configured templates."""
    cw_t, room_t = config.sync.caseworker_calendar, config.sync.room_calendar
    if not cw_t and not room_t:
        return directory
    caseworkers = tuple(
        c
        if c.calendar_id or not cw_t
        else replace(c, calendar_id=cw_t.format(id=c.id, email=c.email or ""))
        for c in directory.caseworkers
    )
    rooms = tuple(
        r
        if r.calendar_id or not room_t
        else replace(r, calendar_id=room_t.format(id=r.id, email=r.email or ""))
        for r in directory.rooms
    )
    return replace(directory, caseworkers=caseworkers, rooms=rooms)


def pool_size(config: Config) -> int:
    """Connections one process keeps: one per API thread and engine worker, plus a few for the
    janitor, the leases and the dashboard's live stream. A pool smaller than that makes busy
    moments open and close connections, which on PostgreSQL costs a process fork each."""
    return config.api.threads + config.sync.workers + config.sync.outbox_workers + 4


def open_runtime(
    config: Config,
    *,
    directory: Directory | None = None,
    clock: Clock = utcnow,
    migrate: bool = True,
    read_only: bool = False,
) -> Runtime:
    """Open the store (creating or upgrading the schema), write the directory into it and build
    the services. ``directory`` defaults to the configured one. ``read_only`` changes nothing
    (no migration, no directory written): for looking at a store another process serves."""
    db = Database(config.database_url, pool_size=pool_size(config))
    directory = directory if directory is not None else config.directory()
    directory = with_calendar_ids(directory, config)
    if not read_only:
        with db.startup_lock():
            if migrate:
                db.upgrade()
            with db.write() as s:
                if directory.sites or directory.rooms or directory.caseworkers:
                    save_directory(s, _with_synced(s, directory, config))
    with db.read() as s:
        index = DirectoryIndex(load_directory(s, config.publishing.closing_days))
    service = BookingService(
        db,
        index,
        zone=ZoneInfo(config.timezone),
        hold_ttl=timedelta(seconds=config.api.hold_ttl_seconds),
        clock=clock,
    )
    rt = Runtime(config, db, index, service, clock)
    rt.extras["base_directory"] = directory
    return rt


def _with_synced(s: Any, directory: Directory, config: Config) -> Directory:
    """The directory with what ``syncd directory sync`` found merged under it."""
    from syncd.directory_sync import merge, stored

    found = stored(s)
    if not (found.caseworkers or found.rooms):
        return directory
    return with_calendar_ids(merge(directory, found), config)
