"""Turning a generated scenario into calendars, the way caseworkers would have filled them:
weekly self-booking windows as recurring series (with a skipped week), single windows, team
meetings, an all-day day off now and then, and meetings others put in room calendars.

Calendars are written as iCalendar files, either through HTTP (PUT, like any CalDAV client) or
straight into a Radicale storage folder before the server starts (fast bulk loading for
benchmarks with thousands of calendars).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from icalendar import Calendar, Event

from syncd.scenario import Generated

KIND_PROP = "{https://selvbook.dk/ns/syncd}calendar-kind"


@dataclass(frozen=True)
class SeedCalendar:
    home: str  # "caseworkers" | "rooms"
    name: str  # the collection's last path segment
    owner_id: str
    kind: str
    items: tuple[tuple[str, str], ...]  # (file name, iCalendar text)


def _ics(
    uid: str,
    summary: str,
    start: datetime | date,
    end: datetime | date,
    *,
    rrule: dict[str, object] | None = None,
    exdates: Iterable[datetime] = (),
    categories: tuple[str, ...] = (),
    transparent: bool = False,
) -> str:
    cal = Calendar()
    cal.add("prodid", "-//Selvbook syncd seed//DA")
    cal.add("version", "2.0")
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
    ev.add("summary", summary)
    ev.add("dtstart", start)
    ev.add("dtend", end)
    if rrule:
        ev.add("rrule", rrule)
    for ex in exdates:
        ev.add("exdate", ex)
    if categories:
        ev.add("categories", list(categories))
    if transparent:
        ev.add("transp", "TRANSPARENT")
    cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical().decode()


def scenario_calendars(gen: Generated, *, seed: int = 11) -> list[SeedCalendar]:
    rng = random.Random(seed)
    out: list[SeedCalendar] = []
    by_cw_windows: dict[str, list] = {}
    for w in gen.windows:
        if w.source == "single":
            by_cw_windows.setdefault(w.caseworker_id, []).append(w)
    by_cw_busy: dict[str, list] = {}
    for b in gen.busy:
        by_cw_busy.setdefault(b.caseworker_id, []).append(b)
    series_by_cw = {s.caseworker_id: s for s in gen.series}
    for cw in gen.directory.caseworkers:
        items: list[tuple[str, str]] = []
        s = series_by_cw.get(cw.id)
        if s is not None:
            skipped = [s.first_start + timedelta(weeks=w) for w in s.skipped_weeks]
            items.append(
                (
                    f"{cw.id}-series.ics",
                    _ics(
                        f"{cw.id}-series@seed",
                        "Selvbook",
                        s.first_start,
                        s.first_end,
                        rrule={"freq": "weekly", "count": s.weeks},
                        exdates=skipped,
                    ),
                )
            )
        for n, w in enumerate(by_cw_windows.get(cw.id, [])):
            summary = "Selvbook: Jobsamtale" if rng.random() < 0.3 else "Tid til borgere"
            categories = () if summary.startswith("Selvbook") else ("Selvbook",)
            if summary.startswith("Selvbook") and "jobsamtale" not in cw.conversation_types:
                summary, categories = "Borgertid", ("Selvbook",)
            items.append(
                (
                    f"{cw.id}-w{n}.ics",
                    _ics(f"{cw.id}-w{n}@seed", summary, w.start, w.end, categories=categories),
                )
            )
        for n, b in enumerate(by_cw_busy.get(cw.id, [])):
            items.append((f"{cw.id}-b{n}.ics", _ics(f"{cw.id}-b{n}@seed", b.title, b.start, b.end)))
        if rng.random() < 0.15:  # a day off, marked all day
            day = gen.start + timedelta(days=rng.randrange(gen.weeks * 7))
            items.append(
                (f"{cw.id}-off.ics", _ics(f"{cw.id}-off@seed", "Fri", day, day + timedelta(days=1)))
            )
        if rng.random() < 0.1:  # a free (transparent) reminder that must not block anything
            t = datetime.combine(gen.start, datetime.min.time(), gen.zone) + timedelta(hours=9)
            items.append(
                (
                    f"{cw.id}-note.ics",
                    _ics(
                        f"{cw.id}-note@seed",
                        "Husk: tjek post",
                        t,
                        t + timedelta(hours=1),
                        transparent=True,
                    ),
                )
            )
        out.append(SeedCalendar("caseworkers", cw.id, cw.id, "caseworker", tuple(items)))
    for room in gen.directory.rooms:
        items = []
        for n in range(rng.randrange(3)):  # meetings others put in the room
            day = gen.start + timedelta(days=rng.randrange(gen.weeks * 7))
            start = datetime.combine(day, datetime.min.time(), gen.zone) + timedelta(
                hours=rng.choice([8, 13])
            )
            items.append(
                (
                    f"{room.id}-m{n}.ics",
                    _ics(
                        f"{room.id}-m{n}@seed", "Personalemøde", start, start + timedelta(hours=1)
                    ),
                )
            )
        out.append(SeedCalendar("rooms", room.id, room.id, "room", tuple(items)))
    return out


def write_radicale_folder(collection_root: Path, calendars: Iterable[SeedCalendar]) -> None:
    """Write calendars straight into a (stopped) Radicale filesystem storage."""
    for cal in calendars:
        folder = collection_root / cal.home / cal.name
        folder.mkdir(parents=True, exist_ok=True)
        props = {
            "C:supported-calendar-component-set": "VEVENT",
            "D:displayname": cal.name,
            "tag": "VCALENDAR",
            KIND_PROP: cal.kind,
        }
        (folder / ".Radicale.props").write_text(json.dumps(props))
        for name, text in cal.items:
            (folder / name).write_text(text)


def put_calendars(base_url: str, calendars: Iterable[SeedCalendar], *, workers: int = 4) -> None:
    """Create calendars and PUT their items over HTTP, as a CalDAV client would."""
    cals = list(calendars)

    def one(cal: SeedCalendar) -> None:
        with httpx.Client(auth=(cal.home, "x"), timeout=60) as http:
            url = f"{base_url.rstrip('/')}/{cal.home}/{cal.name}/"
            body = (
                '<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:S="https://selvbook.dk/ns/syncd">'
                f"<D:set><D:prop><D:displayname>{cal.name}</D:displayname>"
                f"<S:calendar-kind>{cal.kind}</S:calendar-kind></D:prop></D:set></C:mkcalendar>"
            )
            r = http.request("MKCALENDAR", url, content=body.encode())
            if r.status_code not in (201, 405, 409):
                r.raise_for_status()
            for name, text in cal.items:
                http.put(
                    url + name, content=text.encode(), headers={"Content-Type": "text/calendar"}
                ).raise_for_status()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, cals))


def calendar_url(base_url: str, cal_home: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/{cal_home}/{name}/"
