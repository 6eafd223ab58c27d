"""Latency from a change in a calendar to the daemon acting on it, per backend, and the idle
request rate with push on and off.

The daemon runs for real in this process (engine threads, booking API on a loopback port that
the simulators post notifications to) over the test jobcentre (3 caseworkers, 3 rooms):
Graph and EWS simulators with push on (polling is the 15-minute safety net), CalDAV on a
real Radicale, polled. Per backend it measures, ``--samples`` times each:

- window -> offers: a caseworker adds a "Selvbook" window; until its offers are published;
- confirm -> event: a citizen confirms a booking; until the event is in her calendar;
- move read back: she drags the booked conversation 3 hours later; until the booking moved;
- room taken: someone books the conversation's room by hand; until the booking has another room.

Idle requests per mailbox per hour: the daemon sits idle for ``--idle-seconds`` with every
interval divided by ``--scale`` (poll 30 s, safety net 900 s, EWS streaming connections of
29 minutes), and the simulator's request count is scaled back to one real hour. With push on,
measuring starts after the first safety round (steady state; the Graph connector re-bases its
change markers once after a start, a one-off full read of each calendar). Graph
subscriptions are renewed once per ~6 days, which no idle run this short can show; that adds
about 0.007 requests per mailbox per hour.

    .venv/bin/python bench/latency.py [--samples 10] [--idle-seconds 60] [--scale 30]
                                      [--caldav-poll 5] [--backends graph,ews,caldav]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile
from syncd.domain.model import Mode
from syncd.logs import configure_logging
from tests.engine.push_world import all_active, live_daemon, wait_for
from tests.store.test_bookings import offers
from tests.support.clock import FakeClock
from tests.support.jobcentre import NOW, at
from tests.support.radicale import running_radicale

CASEWORKERS = ("mette", "lars", "pia")
WEEKDAYS = [d for d in range(0, 21) if (1 + d) % 7 not in (5, 6)]  # day 0: Tue 1 Dec 2026


def timed(action, condition, timeout: float = 120.0) -> float:
    started = time.monotonic()
    action()
    wait_for(condition, timeout, "the change to take effect")
    return time.monotonic() - started


def latencies(backend: str, samples: int, caldav_poll: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"window": [], "confirm": [], "move": [], "room": []}
    poll = caldav_poll if backend == "caldav" else 30.0
    with tempfile.TemporaryDirectory() as tmp, _radicale(backend, Path(tmp)) as radicale:
        clock = FakeClock(NOW)
        with live_daemon(
            backend, Path(tmp), clock, push=backend != "caldav", poll_seconds=poll,
            safety_seconds=900, radicale=radicale,
        ) as (world, _):  # fmt: skip
            if backend != "caldav":
                wait_for(lambda: all_active(world), 60, "push subscriptions")
            rt = world.rt
            bookings = []
            for i in range(samples):
                name, day = CASEWORKERS[i % 3], WEEKDAYS[i]

                def published(name=name, day=day):
                    return [
                        o for o in offers(rt, caseworker_id=name, modes=(Mode.IN_PERSON,))
                        if o.start.astimezone(at(0, 0).tzinfo).date() == at(day, 9).date()
                    ]  # fmt: skip

                out["window"].append(timed(
                    lambda n=name, d=day: world.put(n, f"w{d}", "Selvbook", at(d, 9), at(d, 12)),
                    published,
                ))  # fmt: skip
                slot = published()[0]
                hold = rt.bookings.reserve(slot.offer_id, f"citizen-ref-{i}")
                box: dict = {}

                def in_calendar(name=name, start=slot.start):
                    return [e for e in world.events(name) if e.ours and e.start == start]

                out["confirm"].append(timed(
                    lambda h=hold, box=box: box.update(b=rt.bookings.confirm(h.id)), in_calendar
                ))  # fmt: skip
                bookings.append((name, box["b"], in_calendar()[0].uid))
            for name, booking, uid in bookings:
                later = booking.start + timedelta(hours=3)

                def moved(b=booking, later=later):
                    return rt.bookings.get(b.id).start == later

                out["move"].append(timed(
                    lambda n=name, u=uid, s=later, e=booking.end + timedelta(hours=3):
                        world.move(n, u, s, e),
                    moved,
                ))  # fmt: skip
            for i, (_, booking, _) in enumerate(bookings):
                current = rt.bookings.get(booking.id)
                room = current.room_id

                def rehoused(b=booking, room=room):
                    after = rt.bookings.get(b.id)
                    return after.room_id != room or after.conflict

                out["room"].append(timed(
                    lambda r=room, s=current.start, i=i:
                        world.put(r, f"grab{i}", "Ledermøde", s - timedelta(minutes=30),
                                  s + timedelta(hours=1)),
                    rehoused,
                ))  # fmt: skip
    return out


def idle_rate(backend: str, push: bool, idle: float, scale: float) -> float:
    """Requests per mailbox per real hour while nothing changes."""
    with tempfile.TemporaryDirectory() as tmp, _radicale(backend, Path(tmp)) as radicale:

        def prepare(server) -> None:
            if backend == "ews":
                server.streams.minute = 60.0 / scale

        with live_daemon(
            backend, Path(tmp), FakeClock(NOW), push=push, poll_seconds=30.0 / scale,
            safety_seconds=900.0 / scale, radicale=radicale, prepare=prepare,
        ) as (world, _):  # fmt: skip
            if push:
                wait_for(lambda: all_active(world), 60, "push subscriptions")
            engine = world.engine
            wait_for(lambda: engine.cycles >= 2 and not engine._in_flight, 60, "first syncs")
            if push:
                # Steady state: after the first safety round (Graph's change markers re-base
                # once after a start, which would count a full read of every calendar).
                time.sleep(900.0 / scale + 2)
            before = world.server_requests()
            time.sleep(idle)  # the idle period being measured
            count = world.server_requests() - before
            return count / len(world.calendars) * 3600.0 / (idle * scale)


class _radicale:
    def __init__(self, backend: str, path: Path) -> None:
        self.backend, self.path, self.cm = backend, path / "radicale", None

    def __enter__(self):
        if self.backend != "caldav":
            return None
        self.cm = running_radicale(self.path)
        return self.cm.__enter__()

    def __exit__(self, *exc):
        if self.cm is not None:
            self.cm.__exit__(*exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument("--caldav-poll", type=float, default=5.0)
    parser.add_argument("--backends", default="graph,ews,caldav")
    args = parser.parse_args()
    configure_logging("error", "console")
    logging.disable(logging.WARNING)
    backends = args.backends.split(",")
    print(f"latency: {args.samples} samples per measure; Graph/EWS with push (safety poll "
          f"900 s), CalDAV polled every {args.caldav_poll:g} s")  # fmt: skip
    print(f"{'backend':8} {'measure':16} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    results: dict[str, dict[str, list[float]]] = {}
    for backend in backends:
        results[backend] = found = latencies(backend, args.samples, args.caldav_poll)
        for key, label in (("window", "window->offers"), ("confirm", "confirm->event"),
                           ("move", "move read back"), ("room", "room taken")):  # fmt: skip
            values = found[key]
            print(f"{backend:8} {label:16} {percentile(values, 50):7.2f} "
                  f"{percentile(values, 95):7.2f} {max(values):7.2f}")  # fmt: skip
    print(f"\nidle requests per mailbox per hour ({args.idle_seconds:g} s idle at 1/{args.scale:g} "
          f"of every interval = {args.idle_seconds * args.scale / 60:g} idle minutes, scaled)")  # fmt: skip
    rates = {}
    for backend in backends:
        off = idle_rate(backend, False, args.idle_seconds, args.scale)
        on = (
            idle_rate(backend, True, args.idle_seconds, args.scale) if backend != "caldav" else None
        )
        rates[backend] = (off, on)
        if on is None:
            print(f"{backend:8} polled {off:8.2f}   (push: not offered by CalDAV)")
        else:
            ratio = off / on if on else float("inf")
            print(f"{backend:8} push off {off:8.2f}   push on {on:8.2f}   ratio {ratio:6.1f}x")
    print("\ndone-when checks:")
    for backend in backends:
        found = results[backend]
        checks = [("confirm->event p95 <= 2 s", percentile(found["confirm"], 95) <= 2.0)]
        if backend != "caldav":
            off, on = rates[backend]
            checks += [
                ("window->offers p95 <= 5 s", percentile(found["window"], 95) <= 5.0),
                ("move read back p95 <= 5 s", percentile(found["move"], 95) <= 5.0),
                ("idle requests fall >= 10x", on == 0 or (off / on) >= 10),
            ]
        for label, ok in checks:
            print(f"  {backend:8} {label:28} {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
