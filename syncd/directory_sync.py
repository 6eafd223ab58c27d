"""The directory from its source: caseworkers and rooms read from the calendar system, compared
with what syncd knows, and (unless it is a dry run) applied.

What the source lists is kept in ``directory_source`` and merged under the configuration at
every start: an entry of [[caseworkers]] / [[rooms]] with the same id or e-mail wins (features,
site, conversation types, team stay the municipality's). A caseworker the source no longer
lists is deactivated, and her future conversations are flagged so a coordinator sees them under
"Kræver handling": never silently dropped."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from connectors import directory as source
from connectors.base import CalendarInfo, Connector
from syncd.config import Config
from syncd.domain.model import BookingStatus, Caseworker, Directory, Room
from syncd.logs import get_logger
from syncd.store.journal import audit, emit
from syncd.store.tables import BookingRow, DirectorySourceRow

log = get_logger("syncd.directory")
REMOVED = "Sagsbehandleren er ikke længere i kataloget: find en anden sagsbehandler"
_ID = re.compile(r"[^a-z0-9._-]+")


@dataclass
class Found:
    caseworkers: dict[str, Caseworker] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)


@dataclass
class Change:
    kind: str  # caseworker | room
    id: str
    what: str  # added | changed | removed
    detail: str


@dataclass
class Plan:
    found: Found
    changes: list[Change]

    def lines(self) -> list[str]:
        out = [f"source: {len(self.found.caseworkers)} caseworkers, {len(self.found.rooms)} rooms"]
        for c in self.found.caseworkers.values():
            out.append(f"  caseworker {c.id:16} {c.name} <{c.email or '-'}> {c.calendar_id}")
        for r in self.found.rooms.values():
            out.append(
                f"  room       {r.id:16} {r.name} <{r.email or '-'}> capacity {r.capacity}"
                + (f", {', '.join(sorted(r.features))}" if r.features else "")
            )
        if not self.changes:
            out.append("no changes")
        for ch in self.changes:
            out.append(f"{ch.what:8} {ch.kind:10} {ch.id}: {ch.detail}")
        return out


def _slug(text: str) -> str:
    return _ID.sub("-", text.lower()).strip("-")[:64] or "x"


def _id_for(info_key: str, email: str | None) -> str:
    """Initials from the address (ab1234@kommune.dk -> ab1234), or the calendar URL's last
    segment (…/caseworkers/cw0001/ -> cw0001)."""
    if email:
        return _slug(email.split("@")[0])
    path = unquote(urlsplit(info_key).path).rstrip("/")
    return _slug(path.rsplit("/", 1)[-1] or info_key)


def fetch(config: Config, connector: Connector) -> Found:
    """What the source lists, as directory entries (before the configuration's overrides)."""
    ds = config.directory_sync
    sites = [s.id for s in config.sites]
    site = ds.site or (sites[0] if sites else "")
    all_types = tuple(t.code for t in config.conversation_types)
    found = Found()
    for p in source.people(connector, ds.caseworkers_group):
        cid = _id_for(p.key, p.email)
        found.caseworkers.setdefault(
            cid,
            Caseworker(
                cid, p.name, site, p.department, p.email, p.calendar_id, all_types, (),
                config.publishing.default_weekly_cap,
            ),
        )  # fmt: skip
    for r in source.rooms(connector):
        rid = _id_for(r.calendar_id, r.email)
        found.rooms.setdefault(rid, _room(rid, r, site, ds.room_capacity))
    return found


def _room(rid: str, info: CalendarInfo, site: str, default_capacity: int) -> Room:
    features = set()
    if (info.extra or {}).get("wheelchair") == "true":
        features.add("wheelchair")
    return Room(
        rid, site, info.name, info.capacity or default_capacity, frozenset(features),
        info.calendar_id, info.email, (info.extra or {}).get("floor"),
    )  # fmt: skip


def merge(configured: Directory, synced: Found) -> Directory:
    """The configuration's entries win over the source's (matched by id or e-mail)."""
    cw_keys = {c.id for c in configured.caseworkers} | {
        (c.email or "").lower() for c in configured.caseworkers if c.email
    }
    room_keys = {r.id for r in configured.rooms} | {
        (r.email or "").lower() for r in configured.rooms if r.email
    }
    sites = {s.id for s in configured.sites}
    extra_cw = tuple(
        c
        for c in synced.caseworkers.values()
        if c.id not in cw_keys and (c.email or "").lower() not in cw_keys and c.site_id in sites
    )
    extra_rooms = tuple(
        r
        for r in synced.rooms.values()
        if r.id not in room_keys and (r.email or "").lower() not in room_keys and r.site_id in sites
    )
    return replace(
        configured,
        caseworkers=configured.caseworkers + extra_cw,
        rooms=configured.rooms + extra_rooms,
    )


def stored(s: Any) -> Found:
    """What the last applied sync found (active entries)."""
    found = Found()
    for row in s.scalars(select(DirectorySourceRow).where(DirectorySourceRow.active)):
        d = row.data
        if row.kind == "caseworker":
            found.caseworkers[row.id] = Caseworker(
                row.id, d["name"], d["site"], d.get("team"), d.get("email"), d.get("calendar"),
                tuple(d.get("types") or ()), (), d.get("weekly_cap"),
            )  # fmt: skip
        else:
            found.rooms[row.id] = Room(
                row.id, d["site"], d["name"], int(d["capacity"]), frozenset(d.get("features") or ()),
                d.get("calendar"), d.get("email"), d.get("floor"),
            )  # fmt: skip
    return found


def plan(previous: Found, found: Found) -> Plan:
    changes: list[Change] = []
    for kind, before, after in (
        ("caseworker", previous.caseworkers, found.caseworkers),
        ("room", previous.rooms, found.rooms),
    ):
        for key in sorted(after.keys() - before.keys()):
            changes.append(Change(kind, key, "added", after[key].name))
        for key in sorted(before.keys() & after.keys()):
            if before[key] != after[key]:
                changes.append(Change(kind, key, "changed", _diff(before[key], after[key])))
        for key in sorted(before.keys() - after.keys()):
            changes.append(Change(kind, key, "removed", before[key].name))
    return Plan(found, changes)


def _diff(a: Any, b: Any) -> str:
    parts = []
    for name in ("name", "email", "calendar_id", "capacity", "features", "team", "site_id"):
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x != y:
            parts.append(f"{name} {x!r} -> {y!r}")
    return ", ".join(parts) or "changed"


def apply(rt: Any, result: Plan, now: datetime) -> int:
    """Store what the source lists and flag the future conversations of caseworkers it no
    longer lists; the caller reloads the directory. Returns the number of flagged bookings."""
    flagged = 0
    removed = {c.id for c in result.changes if c.kind == "caseworker" and c.what == "removed"}
    with rt.db.write() as s:
        rows = {(r.kind, r.id): r for r in s.scalars(select(DirectorySourceRow))}
        for kind, items in (("caseworker", result.found.caseworkers), ("room", result.found.rooms)):
            for key, item in items.items():
                row = rows.get((kind, key)) or DirectorySourceRow(kind=kind, id=key)
                row.data, row.active, row.seen_at = _data(item), True, now
                s.merge(row)
        for (kind, key), row in rows.items():
            items = result.found.caseworkers if kind == "caseworker" else result.found.rooms
            if key not in items and row.active:
                row.active = False
                row.seen_at = now
        for booking in s.scalars(
            select(BookingRow).where(
                BookingRow.caseworker_id.in_(removed),
                BookingRow.status == BookingStatus.CONFIRMED.value,
                BookingRow.start > now,
            )
        ):
            booking.conflict = REMOVED
            booking.updated_at = now
            emit(s, "booking.conflict", booking.id, {"reference": booking.reference,
                                                     "reason": REMOVED}, now)  # fmt: skip
            flagged += 1
        audit(
            s, "syncd", "directory.synced", now,
            reason=f"{len(result.changes)} ændringer",
            changes=[f"{c.what} {c.kind} {c.id}" for c in result.changes][:200],
        )  # fmt: skip
    return flagged


def _data(item: Caseworker | Room) -> dict[str, Any]:
    if isinstance(item, Caseworker):
        return {
            "name": item.name, "site": item.site_id, "team": item.team, "email": item.email,
            "calendar": item.calendar_id, "types": list(item.conversation_types),
            "weekly_cap": item.weekly_cap,
        }  # fmt: skip
    return {
        "name": item.name, "site": item.site_id, "capacity": item.capacity,
        "features": sorted(item.features), "calendar": item.calendar_id, "email": item.email,
        "floor": item.floor,
    }  # fmt: skip


def run(rt: Any, connector: Connector, *, dry_run: bool) -> Plan:
    """One sync: fetch, compare with the last applied one, and apply unless ``dry_run``."""
    found = fetch(rt.config, connector)
    with rt.db.read() as s:
        previous = stored(s)
    result = plan(previous, found)
    if not dry_run:
        flagged = apply(rt, result, rt.clock())
        rt.resave_directory()
        log.info(
            "directory synced", changes=len(result.changes), caseworkers=len(found.caseworkers),
            rooms=len(found.rooms), flagged=flagged,
        )  # fmt: skip
    return result


def start_schedule(rt: Any, connector: Connector) -> threading.Event:
    """Sync every ``interval_minutes`` in the daemon; a failed round is logged and retried."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                run(rt, connector, dry_run=False)
            except Exception as exc:
                log.warning("directory sync failed", error=f"{type(exc).__name__}: {exc}")
            if stop.wait(rt.config.directory_sync.interval_minutes * 60):
                return

    threading.Thread(target=loop, name="directory-sync", daemon=True).start()
    return stop
