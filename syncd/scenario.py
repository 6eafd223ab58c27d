"""Scenarios: a jobcentre described as data (shared/scenarios/*.toml) turned into a directory,
self-booking windows, busy time and a stream of citizen bookings, deterministically from the
scenario's random seed. The demo, the simulations and the benchmarks all start here."""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from syncd.domain.model import Caseworker, ConversationType, Directory, Mode, Room, Site
from syncd.domain.slots import Interval, SlotSpec, WindowOccurrence, cut_slots

FIRST_NAMES = [
    "Mette",
    "Anne",
    "Hanne",
    "Lone",
    "Susanne",
    "Camilla",
    "Louise",
    "Maria",
    "Julie",
    "Sofie",
    "Lars",
    "Jens",
    "Peter",
    "Michael",
    "Søren",
    "Thomas",
    "Henrik",
    "Anders",
    "Rasmus",
    "Mads",
    "Kirsten",
    "Birgitte",
    "Pia",
    "Tina",
    "Karen",
    "Jesper",
    "Martin",
    "Niels",
]
LAST_NAMES = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
    "Christiansen",
    "Poulsen",
    "Johansen",
    "Møller",
    "Mortensen",
]

TEAM_TYPES = {
    "Sygedagpenge": ("jobsamtale", "opfoelgning"),
    "Dagpenge": ("jobsamtale", "faellessamtale"),
}


class ScenarioError(ValueError):
    """The scenario file is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class BusyBlock:
    caseworker_id: str
    start: datetime
    end: datetime
    title: str = "Teammøde"


@dataclass(frozen=True)
class WindowSeries:
    """A weekly self-booking window as a caseworker would enter it: one series, some weeks off."""

    caseworker_id: str
    first_start: datetime
    first_end: datetime
    weeks: int
    skipped_weeks: tuple[int, ...] = ()
    conversation_type: str | None = None


@dataclass(frozen=True)
class BookingRequest:
    """One citizen action in the stream, at simulated time ``at``."""

    at: datetime
    action: str  # book | cancel | rebook
    key: int  # which booking (cancel/rebook refer back to a book)
    slot: SlotSpec | None = None
    mode: Mode = Mode.PHONE
    needs_wheelchair: bool = False
    cancelled_by: str = "citizen"


@dataclass
class Generated:
    name: str
    zone: ZoneInfo
    start: date
    weeks: int
    directory: Directory
    windows: list[WindowOccurrence]
    series: list[WindowSeries]
    busy: list[BusyBlock]
    bookings: list[BookingRequest] = field(default_factory=list)
    demand: dict[str, Any] = field(default_factory=dict)
    mode_shares: dict[str, list[tuple[Mode, float]]] = field(default_factory=dict)

    def windows_of(self, caseworker_id: str) -> list[WindowOccurrence]:
        return [w for w in self.windows if w.caseworker_id == caseworker_id]

    def busy_of(self, caseworker_id: str) -> list[Interval]:
        return [(b.start, b.end) for b in self.busy if b.caseworker_id == caseworker_id]


def load(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read scenario: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None


def next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def generate(
    data: dict[str, Any],
    *,
    start: date | None = None,
    caseworkers: int | None = None,
    source: str = "<scenario>",
) -> Generated:
    """Build everything from the scenario. ``start`` is the Monday the first week begins
    (default: next Monday); ``caseworkers`` overrides the count (benchmarks)."""
    try:
        return _generate(data, start or next_monday(date.today()), caseworkers)
    except KeyError as exc:
        raise ScenarioError(f"{source}: missing key {exc.args[0]!r}") from None


def _generate(data: dict[str, Any], start: date, cw_count: int | None) -> Generated:
    jc = data["jobcentre"]
    zone = ZoneInfo(jc.get("timezone", "Europe/Copenhagen"))
    rng = random.Random(jc["random_seed"])
    weeks = int(jc.get("weeks", 6))
    sites, rooms = _sites_and_rooms(data["sites"], rng)
    types = tuple(_conversation_type(t, data.get("demand", {})) for t in data["meeting_types"])
    cw_cfg = data["caseworkers"]
    count = cw_count if cw_count is not None else int(cw_cfg["count"])
    all_codes = tuple(t.code for t in types)
    caseworkers = []
    for i in range(count):
        team = cw_cfg["teams"][i % len(cw_cfg["teams"])]
        site = sites[i % len(sites)]
        codes = (
            tuple(c for c in TEAM_TYPES.get(team, ("jobsamtale",)) if c in all_codes) or all_codes
        )
        cw_id = f"cw{i + 1:04d}"
        caseworkers.append(
            Caseworker(
                id=cw_id,
                name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                site_id=site.id,
                team=team,
                email=f"{cw_id}@jobcenter.example",
                calendar_id=None,
                conversation_types=codes,
                weekly_cap=cw_cfg.get("conversations_per_week_cap"),
            )
        )
    directory = Directory(tuple(sites), tuple(rooms), tuple(caseworkers), types)
    windows, series, busy = _windows(caseworkers, cw_cfg, start, weeks, zone, rng)
    gen = Generated(
        jc["name"], zone, start, weeks, directory, windows, series, busy, [], data.get("demand", {})
    )
    gen.mode_shares = {
        t["code"]: [(Mode(m), float(share)) for m, share in t["modes"].items() if share > 0]
        for t in data["meeting_types"]
    }
    gen.bookings = _booking_stream(gen, rng)
    return gen


def _sites_and_rooms(
    site_data: list[dict[str, Any]], rng: random.Random
) -> tuple[list[Site], list[Room]]:
    sites, rooms = [], []
    for sd in site_data:
        site = Site(sd["id"], sd["name"])
        sites.append(site)
        if "rooms" in sd:
            for r in sd["rooms"]:
                rooms.append(
                    Room(
                        r["id"],
                        site.id,
                        f"Mødelokale {r['id']}",
                        int(r["capacity"]),
                        frozenset(r.get("features", ())),
                        email=f"room-{r['id'].lower()}@jobcenter.example",
                    )
                )
            continue
        n = 0
        for capacity, room_count in sorted(sd["room_counts"].items(), key=lambda kv: int(kv[0])):
            for _ in range(int(room_count)):
                n += 1
                features = set()
                if rng.random() < float(sd.get("wheelchair_share", 0)):
                    features.add("wheelchair")
                if rng.random() < float(sd.get("video_share", 0)):
                    features.add("video")
                room_id = f"{site.id[:1].upper()}{n:02d}"
                rooms.append(
                    Room(
                        f"{site.id}-{room_id}",
                        site.id,
                        f"Mødelokale {room_id}",
                        int(capacity),
                        frozenset(features),
                        email=f"room-{site.id}-{room_id.lower()}@jobcenter.example",
                        floor=str(1 + (n - 1) // 15),
                    )
                )
    return sites, rooms


def _conversation_type(t: dict[str, Any], demand: dict[str, Any]) -> ConversationType:
    modes = tuple(Mode(m) for m, share in t["modes"].items() if share > 0)
    return ConversationType(
        code=t["code"],
        title=t["title"],
        minutes=int(t["minutes"]),
        buffer_before_minutes=int(t.get("buffer_before_minutes", 0)),
        buffer_after_minutes=int(t.get("buffer_after_minutes", 0)),
        modes=modes,
        min_room_capacity=int(t.get("min_room_capacity", 2)),
        min_notice_minutes=int(float(demand.get("min_notice_hours", 24)) * 60),
        horizon_days=42,
    )


def _windows(
    caseworkers: list[Caseworker],
    cfg: dict[str, Any],
    start: date,
    weeks: int,
    zone: ZoneInfo,
    rng: random.Random,
) -> tuple[list[WindowOccurrence], list[WindowSeries], list[BusyBlock]]:
    lo, hi = cfg["windows_per_week"]
    hours = cfg["window_hours"]
    share = float(cfg.get("busy_overlap_share", 0.1))
    windows: list[WindowOccurrence] = []
    series: list[WindowSeries] = []
    busy: list[BusyBlock] = []
    for cw in caseworkers:
        # One weekly series per caseworker (what most caseworkers do), plus single windows.
        s_day = rng.randrange(5)
        s_len = rng.randint(int(hours[0]), int(hours[-1]))
        s_hour = rng.choice([8, 9, 10, 12, 13])
        s_hour = min(s_hour, 16 - s_len)
        skipped = (rng.randrange(weeks),) if weeks > 2 and rng.random() < 0.3 else ()
        first = datetime.combine(start + timedelta(days=s_day), time(s_hour), zone)
        series.append(WindowSeries(cw.id, first, first + timedelta(hours=s_len), weeks, skipped))
        for week in range(weeks):
            monday = start + timedelta(weeks=week)
            days = {s_day} if week not in skipped else set()
            if week not in skipped:
                ws = datetime.combine(monday + timedelta(days=s_day), time(s_hour), zone)
                windows.append(
                    WindowOccurrence(cw.id, ws, ws + timedelta(hours=s_len), None, "series")
                )
            for _ in range(max(0, rng.randint(int(lo), int(hi)) - 1)):
                free_days = [d for d in range(5) if d not in days]
                if not free_days:
                    break
                day = rng.choice(free_days)
                days.add(day)
                length = rng.randint(int(hours[0]), int(hours[-1]))
                hour = rng.choice([8, 9, 10, 12, 13])
                hour = min(hour, 16 - length)
                ws = datetime.combine(monday + timedelta(days=day), time(hour), zone)
                windows.append(
                    WindowOccurrence(cw.id, ws, ws + timedelta(hours=length), None, "single")
                )
    # Busy appointments overlapping about `share` of window time.
    for w in windows:
        minutes = (w.end - w.start).total_seconds() / 60
        if rng.random() < share * minutes / 45:
            offset = rng.randrange(0, int(minutes) - 30, 15)
            b_start = w.start + timedelta(minutes=offset)
            busy.append(BusyBlock(w.caseworker_id, b_start, b_start + timedelta(minutes=30)))
    return windows, series, busy


def slots_of(gen: Generated) -> Iterator[tuple[Caseworker, list[SlotSpec]]]:
    by_cw: dict[str, list[WindowOccurrence]] = {}
    for w in gen.windows:
        by_cw.setdefault(w.caseworker_id, []).append(w)
    busy_by_cw: dict[str, list[Interval]] = {}
    for b in gen.busy:
        busy_by_cw.setdefault(b.caseworker_id, []).append((b.start, b.end))
    for cw in gen.directory.caseworkers:
        yield (
            cw,
            cut_slots(
                by_cw.get(cw.id, []),
                busy_by_cw.get(cw.id, []),
                gen.directory.conversation_types,
                cw.conversation_types,
                zone=gen.zone,
            ),
        )


def _booking_stream(gen: Generated, rng: random.Random) -> list[BookingRequest]:
    """Citizens fill about ``fill_rate`` of the caseworkers' time; some cancel or rebook."""
    demand = gen.demand
    fill = float(demand.get("fill_rate", 0.85))
    cancel_share = float(demand.get("cancel_share", 0.4))
    cw_cancel = float(demand.get("caseworker_cancel_share", 0.1))
    rebook_share = float(demand.get("rebook_share", 0.15))
    wheelchair = float(demand.get("wheelchair_share", 0.05))
    notice = timedelta(hours=float(demand.get("min_notice_hours", 24)))
    types = {t.code: t for t in gen.directory.conversation_types}
    mode_shares = gen.mode_shares
    first_moment = datetime.combine(gen.start, time(0), gen.zone) - timedelta(days=7)
    requests: list[BookingRequest] = []
    key = 0
    for cw, slots in slots_of(gen):
        taken: list[Interval] = []
        per_week: dict[int, int] = {}
        by_type: dict[str, list[SlotSpec]] = {}
        for s in slots:
            by_type.setdefault(s.type_code, []).append(s)
        for s in sorted(slots, key=lambda x: (x.start, rng.random())):
            if rng.random() > fill / max(1, len(by_type)):
                continue
            week = s.start.isocalendar().week
            if cw.weekly_cap is not None and per_week.get(week, 0) >= cw.weekly_cap:
                continue
            ctype = types[s.type_code]
            span = (s.start - ctype.buffer_before, s.end + ctype.buffer_after)
            if any(a < span[1] and span[0] < b for a, b in taken):
                continue
            taken.append(span)
            per_week[week] = per_week.get(week, 0) + 1
            modes, weights = zip(*mode_shares[s.type_code], strict=True)
            mode = rng.choices(modes, weights)[0]
            latest = s.start - notice
            at = first_moment + (latest - first_moment) * rng.random()
            key += 1
            requests.append(BookingRequest(at, "book", key, s, mode, rng.random() < wheelchair))
            if rng.random() < cancel_share:
                by = "caseworker" if rng.random() < cw_cancel else "citizen"
                c_at = at + (latest - at) * rng.random()
                requests.append(BookingRequest(c_at, "cancel", key, cancelled_by=by))
    # Rebooks: a share of the kept bookings move to another free time later on.
    cancelled = {r.key for r in requests if r.action == "cancel"}
    for r in list(requests):
        if r.action == "book" and r.key not in cancelled and rng.random() < rebook_share:
            requests.append(
                BookingRequest(
                    r.at + (r.slot.start - notice - r.at) * rng.random(), "rebook", r.key
                )
            )  # type: ignore[union-attr]
    requests.sort(key=lambda r: (r.at, r.key, r.action))
    return requests
