"""Room allocation benchmark: first-come-first-served (as Exchange) against the re-packing engine.

Replays a booking stream with cancellations for the rooms of a scenario (default: the large
one) through
  fcfs       first free suitable room in room-list order, never moves (Exchange's Resource
             Booking Assistant: the caseworker picks rooms from the list until one accepts);
  fcfs-best  the same, but the free room is chosen by the engine's preferences (best fit);
  engine     syncd.rooms.allocate: preferences plus exact re-packing with the fewest moves;
at the scenario's room counts and with the rooms cut to 0.8x and 0.6x, and prints per setting:
in-person bookings left without a room, room moves, and allocation time per booking.

The engine allocates each booking as the booking path does (``BOOKING_PREFERENCES``: the
budgeted search, no CP-SAT). When such a call could not prove its answer and left the booking
without a room, the background step the engine's janitor does runs before the next event: the
site-day's bookings without a room are re-packed with ``Preferences()`` (CP-SAT fallback at its
full limit) through ``reallocate``. Its time is counted apart (bg columns), not per booking.

The stream is generated here from the scenario file (seeded by its random_seed), not by
syncd.scenario: caseworkers with 2-4 self-booking windows a week of 2-3 hours on weekdays
08:00-16:00, filled to the scenario's fill rate with its conversation types (chosen uniformly,
the scenario gives no type shares) and mode shares, booked 1-21 days ahead, 40 % cancelled
(a cancelled slot is booked again by someone else with the fill rate's probability), citizens
needing wheelchair access at the scenario's share, and a foreign meeting (1 h) in 10 % of
room-days. Allocations on the booking day and the next working day are frozen (not movable).

    .venv/bin/python bench/allocation.py [--scenario PATH] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tomllib
from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncd.rooms import allocate, fcfs_allocate, in_person_capacity, reallocate
from syncd.rooms.model import (
    BOOKING_PREFERENCES,
    AllocationPlan,
    AllocationRequest,
    Occupation,
    Preferences,
    RoomSpec,
)

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "shared" / "scenarios" / "large.toml"
FACTORS = (1.0, 0.8, 0.6)
MONDAY = date(2026, 9, 7)  # a week without Danish public holidays
GRID = timedelta(minutes=15)


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # "book" or "cancel"
    req: AllocationRequest


@dataclass
class SiteDay:
    site: str
    day: date
    events: list[Event] = field(default_factory=list)
    occupied: list[Occupation] = field(default_factory=list)
    free_slots: list[AllocationRequest] = field(default_factory=list)  # for the offers check


@dataclass
class World:
    rooms: dict[str, list[RoomSpec]]  # per site, in room-list order
    site_days: list[SiteDay]
    phone_video: int = 0


def next_working_day(d: date) -> date:
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def generate(scenario: dict, weeks: int, sites: int | None) -> World:
    """A plausible booking stream for the scenario's sites (deterministic from its seed)."""
    rng = random.Random(scenario["jobcentre"]["random_seed"])
    site_specs = scenario["sites"][:sites] if sites else scenario["sites"]
    rooms: dict[str, list[RoomSpec]] = {}
    for spec in site_specs:
        made = []
        for cap, count in spec["room_counts"].items():
            for _ in range(count):
                feats = set()
                if rng.random() < spec.get("wheelchair_share", 0):
                    feats.add("wheelchair")
                if rng.random() < spec.get("video_share", 0):
                    feats.add("video")
                made.append((int(cap), frozenset(feats), str(rng.randint(0, 3))))
        rng.shuffle(made)  # room names say nothing about size
        rooms[spec["id"]] = [
            RoomSpec(f"{spec['id']}-{i + 1:03d}", spec["id"], cap, feats, floor)
            for i, (cap, feats, floor) in enumerate(made)
        ]

    cw_conf = scenario["caseworkers"]
    demand = scenario["demand"]
    types = scenario["meeting_types"]
    all_sites = [s["id"] for s in scenario["sites"]]
    per_site = cw_conf["count"] // len(all_sites)
    days: dict[tuple[str, date], SiteDay] = {}
    phone_video = 0
    serial = 0

    def site_day(site: str, d: date) -> SiteDay:
        key = (site, d)
        if key not in days:
            days[key] = SiteDay(site, d)
        return days[key]

    def book(cw: str, team: str, site: str, start: datetime, mtype: dict, after: datetime) -> None:
        """One booking of a slot, maybe cancelled and booked again by someone else."""
        nonlocal serial, phone_video
        end = start + timedelta(minutes=mtype["minutes"] + mtype.get("buffer_after_minutes", 0))
        latest = start - timedelta(hours=demand.get("min_notice_hours", 24))
        booked_at = max(after, start - timedelta(days=rng.uniform(1, 21)))
        if booked_at > latest:
            return
        modes = mtype["modes"]
        mode = rng.choices(list(modes), weights=list(modes.values()))[0]
        serial += 1
        sd = site_day(site, start.date())
        cancelled = rng.random() < demand["cancel_share"]
        cancel_at = booked_at + (latest - booked_at) * rng.random() if cancelled else None
        if mode != "in_person":
            phone_video += 1
        else:
            wheel = rng.random() < demand.get("wheelchair_share", 0)
            req = AllocationRequest(
                booking_id=f"b{serial}",
                caseworker_id=cw,
                start=start,
                end=end,
                sites=frozenset({site}),
                min_capacity=mtype.get("min_room_capacity", 1),
                features=frozenset({"wheelchair"}) if wheel else frozenset(),
                team=team,
            )
            sd.events.append(Event(booked_at, "book", req))
            if cancel_at is not None:
                sd.events.append(Event(cancel_at, "cancel", req))
        if cancel_at is not None and rng.random() < demand["fill_rate"]:
            book(cw, team, site, start, mtype, cancel_at)

    for si, site in enumerate(all_sites):
        if site not in rooms:
            continue
        for n in range(per_site):
            cw = f"cw{si * per_site + n}"
            team = rng.choice(cw_conf["teams"])
            for week in range(weeks):
                monday = MONDAY + timedelta(weeks=week)
                count = 0
                wins = rng.randint(*cw_conf["windows_per_week"])
                for wd in sorted(rng.sample(range(5), min(wins, 5))):
                    hours = rng.randint(*cw_conf["window_hours"])
                    begin = 8 * 2 + rng.randint(0, (16 - 8 - hours) * 2)
                    t = datetime.combine(monday + timedelta(days=wd), datetime.min.time())
                    t += timedelta(minutes=30 * begin)
                    w_end = t + timedelta(hours=hours)
                    while True:
                        mtype = rng.choice(types)
                        length = timedelta(
                            minutes=mtype["minutes"] + mtype.get("buffer_after_minutes", 0)
                        )
                        if t + length > w_end:
                            break
                        if (
                            count < cw_conf.get("conversations_per_week_cap", 99)
                            and rng.random() < demand["fill_rate"]
                        ):
                            count += 1
                            book(cw, team, site, t, mtype, t - timedelta(days=28))
                        else:
                            site_day(site, t.date()).free_slots.append(
                                AllocationRequest(
                                    booking_id=f"slot{cw}-{t:%m%d%H%M}",
                                    caseworker_id=cw,
                                    start=t,
                                    end=t + length,
                                    sites=frozenset({site}),
                                    min_capacity=mtype.get("min_room_capacity", 1),
                                    team=team,
                                )
                            )
                        t += length

    for (site, d), sd in days.items():
        for room in rooms[site]:
            if rng.random() < 0.10:
                start = datetime.combine(d, datetime.min.time()) + timedelta(
                    hours=rng.randint(8, 15)
                )
                sd.occupied.append(Occupation(room.room_id, start, start + timedelta(hours=1)))
        sd.events.sort(key=lambda e: (e.at, e.kind != "cancel", e.req.booking_id))
    ordered = sorted(days.values(), key=lambda sd: (sd.day, sd.site))
    return World(rooms, ordered, phone_video)


def cut(rooms: Sequence[RoomSpec], factor: float) -> list[RoomSpec]:
    """The first round(n * factor) rooms of each capacity (at least one), in list order."""
    by_cap: dict[int, list[RoomSpec]] = defaultdict(list)
    for room in rooms:
        by_cap[room.capacity].append(room)
    keep = set()
    for same in by_cap.values():
        n = max(1, round(len(same) * factor))
        keep.update(r.room_id for r in same[:n])
    return [r for r in rooms if r.room_id in keep]


Allocator = Callable[..., AllocationPlan]


@dataclass
class Result:
    bookings: int = 0
    refused: int = 0
    left: int = 0
    moves: int = 0
    repacks: int = 0
    retried: int = 0
    unproven: int = 0
    fallbacks: int = 0
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    bg_times: list[float] = field(default_factory=list)  # background re-packs (janitor)
    bg_placed: int = 0  # bookings without a room that a background re-pack placed
    bg_unproven: int = 0


def replay(world: World, factor: float, name: str) -> Result:
    """One allocator over the whole stream. ``engine+retry`` also re-tries the bookings left
    without a room whenever a cancellation frees time they overlap (what the daemon does when a
    room is released); FCFS, like Exchange, never revisits a declined request."""
    res = Result()
    for sd in world.site_days:
        _replay_day(sd, cut(world.rooms[sd.site], factor), name, res)
    return res


def _replay_day(sd: SiteDay, rooms: list[RoomSpec], name: str, res: Result) -> None:
    prefs = Preferences()
    live: dict[str, AllocationRequest] = {}
    movable = True
    pending = False  # a booking call gave up unproven and left a booking without a room

    def place(new: AllocationRequest) -> str | None:
        nonlocal pending
        existing = [r for r in live.values() if r.current_room is not None]
        t0, c0 = time.perf_counter(), time.thread_time()
        if name.startswith("engine"):
            plan = allocate(new, existing, rooms, sd.occupied, BOOKING_PREFERENCES)
        elif name == "fcfs-best":
            plan = fcfs_allocate(new, existing, rooms, sd.occupied, prefs)
        else:
            plan = fcfs_allocate(new, existing, rooms, sd.occupied)
        res.times.append(time.perf_counter() - t0)
        res.cpu.append(time.thread_time() - c0)
        res.unproven += not plan.exact
        res.fallbacks += plan.fallback
        res.moves += len(plan.moves)
        res.repacks += bool(plan.moves)
        for m in plan.moves:
            live[m.booking_id] = replace(live[m.booking_id], current_room=m.to_room)
        room = plan.assignments[new.booking_id]
        live[new.booking_id] = replace(new, current_room=room)
        pending = pending or (room is None and not plan.exact)
        return room

    def background() -> None:
        """The janitor: the site-day's bookings without a room, re-packed with the full limit."""
        roomless = [r for r in live.values() if r.current_room is None]
        existing = [r for r in live.values() if r.current_room is not None]
        t0 = time.perf_counter()
        plan = reallocate(roomless, existing, rooms, sd.occupied, prefs)
        res.bg_times.append(time.perf_counter() - t0)
        res.bg_unproven += not plan.exact
        res.moves += len(plan.moves)
        for m in plan.moves:
            live[m.booking_id] = replace(live[m.booking_id], current_room=m.to_room)
        for bid, room in plan.assignments.items():
            if room is not None:
                live[bid] = replace(live[bid], current_room=room)
                res.bg_placed += 1

    for ev in sd.events:
        if pending:
            pending = False
            background()
        now_movable = sd.day > next_working_day(ev.at.date())
        if now_movable != movable:
            movable = now_movable
            for k, v in list(live.items()):
                live[k] = replace(v, movable=movable)
        if ev.kind == "cancel":
            gone = live.pop(ev.req.booking_id, None)
            if name == "engine+retry" and gone is not None and gone.current_room is not None:
                for waiting in sorted(live.values(), key=lambda r: r.booking_id):
                    if (
                        waiting.current_room is None
                        and waiting.start < gone.end
                        and gone.start < waiting.end
                    ):
                        res.retried += place(waiting) is not None
            continue
        res.bookings += 1
        res.refused += place(replace(ev.req, movable=movable)) is None
    if pending:
        background()
    res.left += sum(1 for r in live.values() if r.current_room is None)


def offline_bound(world: World, factor: float) -> int:
    """Live bookings that no allocator could room, even knowing every cancellation in advance:
    the final bookings of each site-day scheduled by the greedy that is optimal for identical
    rooms, once on all rooms and once for the bookings that need a big room on the big rooms
    (other features ignored), taking the larger shortfall. A lower bound."""
    left = 0
    for sd in world.site_days:
        rooms = cut(world.rooms[sd.site], factor)
        final: dict[str, AllocationRequest] = {}
        for ev in sd.events:
            if ev.kind == "book":
                final[ev.req.booking_id] = ev.req
            else:
                final.pop(ev.req.booking_id, None)
        reqs = list(final.values())
        big = min((r.min_capacity for r in reqs if r.min_capacity > 2), default=None)
        shortfalls = [_shortfall(reqs, len(rooms))]
        if big is not None:
            shortfalls.append(
                _shortfall(
                    [r for r in reqs if r.min_capacity >= big],
                    sum(1 for room in rooms if room.capacity >= big),
                )
            )
        left += max(shortfalls)
    return left


def _shortfall(reqs: list[AllocationRequest], n_rooms: int) -> int:
    """Intervals that n identical rooms cannot hold (greedy by end time, optimal)."""
    free_at: list[datetime] = []  # sorted times at which a used room becomes free
    left = 0
    for req in sorted(reqs, key=lambda r: (r.end, r.start)):
        i = bisect_right(free_at, req.start)
        if i:
            free_at.pop(i - 1)
        elif len(free_at) >= n_rooms:
            left += 1
            continue
        insort(free_at, req.end)
    return left


def offers_check(world: World, factor: float, samples: int) -> tuple[list[float], int, int, int]:
    """Time in_person_capacity over each site-day's free slots, halfway through its stream, and
    verify a sample of its promises with allocate (a broken promise is counted)."""
    rng = random.Random(1)
    times: list[float] = []
    asked = promised = broken = 0
    for sd in world.site_days:
        rooms = cut(world.rooms[sd.site], factor)
        live: dict[str, AllocationRequest] = {}
        for ev in sd.events[: len(sd.events) // 2]:
            if ev.kind == "cancel":
                live.pop(ev.req.booking_id, None)
                continue
            existing = list(live.values())
            plan = allocate(ev.req, existing, rooms, sd.occupied)
            for m in plan.moves:
                live[m.booking_id] = replace(live[m.booking_id], current_room=m.to_room)
            room = plan.assignments[ev.req.booking_id]
            if room is not None:
                live[ev.req.booking_id] = replace(ev.req, current_room=room)
        cands = sd.free_slots
        existing = list(live.values())
        t0 = time.perf_counter()
        answer = in_person_capacity(cands, existing, rooms, sd.occupied)
        times.append(time.perf_counter() - t0)
        asked += len(cands)
        yes = [c for c in cands if answer[c.booking_id]]
        promised += len(yes)
        for c in rng.sample(yes, min(samples, len(yes))):
            if allocate(c, existing, rooms, sd.occupied).assignments[c.booking_id] is None:
                broken += 1
    return times, asked, promised, broken


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    ap.add_argument("--quick", action="store_true", help="one site, one week (about 20 s)")
    ap.add_argument("--weeks", type=int, help="weeks to replay (default: the scenario's)")
    ap.add_argument("--sites", type=int, help="number of sites (default: all)")
    args = ap.parse_args(argv)

    scenario = tomllib.loads(args.scenario.read_text(encoding="utf-8"))
    weeks = args.weeks or (1 if args.quick else scenario["jobcentre"].get("weeks", 1))
    sites = args.sites or (1 if args.quick else None)
    t0 = time.perf_counter()
    world = generate(scenario, weeks, sites)
    # The generated stream is large and lives for the whole run; keep the garbage collector
    # from rescanning it during timed calls (a daemon holds one site-day, not six weeks).
    gc.collect()
    gc.freeze()
    per_day = [sum(e.kind == "book" for e in sd.events) for sd in world.site_days]
    n_rooms = {s: len(r) for s, r in world.rooms.items()}
    print(
        f"scenario {args.scenario.name}: {len(world.rooms)} site(s) x {weeks} week(s), "
        f"rooms per site {sorted(set(n_rooms.values()))}, {len(world.site_days)} site-days, "
        f"in-person bookings per site-day {statistics.mean(per_day):.0f} "
        f"(max {max(per_day)}), {sum(per_day)} in total incl. rebookings, "
        f"cancellations {sum(e.kind == 'cancel' for sd in world.site_days for e in sd.events)}, "
        f"phone/video bookings {world.phone_video} (generated in {time.perf_counter() - t0:.1f} s)"
    )
    header = (
        f"{'rooms':>6} {'allocator':<13} {'bookings':>8} {'no room':>8} {'refused':>8} "
        f"{'moves':>6} {'repacks':>7} {'retried':>7} {'unproven':>8} {'cp-sat':>6} {'calls':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'cpu p99':>7} {'cpu max':>7} "
        f"{'bg':>4} {'bg placed':>9} {'bg p50 ms':>9} {'bg max ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for factor in FACTORS:
        for name in ("fcfs", "fcfs-best", "engine", "engine+retry"):
            r = replay(world, factor, name)
            print(
                f"{factor:>5.1f}x {name:<13} {r.bookings:>8} {r.left:>8} {r.refused:>8} "
                f"{r.moves:>6} {r.repacks:>7} {r.retried:>7} {r.unproven:>8} {r.fallbacks:>6} "
                f"{len(r.times):>6} "
                f"{pct(r.times, 0.5):>7.2f} {pct(r.times, 0.99):>7.2f} {pct(r.times, 1.0):>7.2f} "
                f"{pct(r.cpu, 0.99):>7.2f} {pct(r.cpu, 1.0):>7.2f} "
                f"{len(r.bg_times):>4} {r.bg_placed:>9} {pct(r.bg_times, 0.5):>9.1f} "
                f"{pct(r.bg_times, 1.0):>9.1f}"
            )
            if r.bg_unproven:
                print(f"       ({r.bg_unproven} background re-packs unproven)")
        print(
            f"{factor:>5.1f}x {'(bound)':<13} {'':>8} {offline_bound(world, factor):>8}  "
            "<- no room even with perfect foresight (lower bound)"
        )
    print(
        "no room = live in-person bookings without a room at the end; refused = bookings that "
        "got no room when made (some were cancelled later); repacks = allocations that moved "
        "others; retried = waiting bookings placed after a cancellation; unproven = booking "
        "calls whose plan is not proven (plan.exact False: the search budget ran out, and the booking "
        "path has no CP-SAT fallback); cp-sat = calls decided by the CP-SAT fallback (none on the "
        "booking path); times are per booking call, wall clock (p50/p99/max) and this thread's "
        "CPU time (cpu p99/max: what the call costs when the machine is shared with other work); "
        "bg = background re-packs (the janitor, full CP-SAT limit) after an unproven booking call "
        "left a booking without a room, run before the next event and timed apart (p50/max); "
        "bg placed = bookings they gave a room (moves include theirs)"
    )
    for factor in FACTORS:
        times, asked, promised, broken = offers_check(world, factor, 3 if args.quick else 5)
        print(
            f"offers {factor:.1f}x: in_person_capacity over {asked} free slots in "
            f"{len(times)} site-days: {promised} promised a room, {broken} broken promises in "
            f"the sample checked; per site-day p50 {pct(times, 0.5):.1f} ms, "
            f"max {pct(times, 1.0):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
