"""Kill storm: `syncd run` is killed with SIGKILL every 1-8 s while citizens book, cancel and
rebook through the booking API; afterwards the daemon converges and the calendars are checked
against the store. The 1-8 s count from the moment the restarted daemon answers (its start takes
seconds on a small machine, and a daemon killed before it does anything tests little); one kill
in five comes while it is still starting instead.

Real processes, real Radicale (the bundled small jobcentre: its caseworker and room calendars),
SQLite or PostgreSQL. Printed per store: missing, duplicate and orphan events, wrongly cancelled
bookings (nobody but the citizens cancels here, so any other cancellation is wrong), events at
the wrong time, and the time from a confirmed booking to its event in the caseworker's calendar
(p50/p95/max, measured from outside by polling the calendar, with the share of bookings whose
confirm-to-event window saw a kill). Invariants 3 and 7: all counts must be 0.

    .venv/bin/python bench/storm.py --kills 30 --store both
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
from icalendar import Calendar
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, percentile  # noqa: E402
from syncd import scenario as scenarios  # noqa: E402
from syncd.demo import bundled_scenario, write_demo_config  # noqa: E402
from syncd.devtools.radicale import start_radicale  # noqa: E402
from syncd.devtools.seed import scenario_calendars, write_radicale_folder  # noqa: E402
from syncd.engine.ownership import booking_for_external_id, external_id_for  # noqa: E402
from syncd.store.db import Database  # noqa: E402
from syncd.store.tables import (  # noqa: E402
    BookingRow,
    OutboxRow,
    RoomAllocationRow,
    SyncStateRow,
)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Share of kills that hit the daemon while it is still starting (counted from the spawn);
# the others come 1-8 s after it answers, so it gets work done between kills.
START_KILLS = 0.2
CALDAV = "urn:ietf:params:xml:ns:caldav"
REPORT_ALL = (
    '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
    '<C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>'
)


# -- the daemon, as an administrator runs it ------------------------------------------------------
class Daemon:
    """`syncd run` in its own process; ``kill`` is SIGKILL, ``stop`` is SIGTERM."""

    def __init__(self, config: Path, log: Path, base: str) -> None:
        self.config, self.log, self.base = config, log, base
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncd.cli", "-c", str(self.config), "run"],
                cwd=ROOT, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"syncd exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"syncd did not answer within {timeout} s; see {self.log}")


# -- citizens ---------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What the citizens were told, and when (wall clock)."""

    confirmed_at: dict[str, float] = field(default_factory=dict)
    caseworker: dict[str, str] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)  # cancel sent (answered or not)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Citizens(threading.Thread):
    """Books, cancels and rebooks like Jobnet's front end; a call that dies with the daemon is
    simply lost (the store says later what happened)."""

    def __init__(self, base: str, api_key: str, ledger: Ledger, seed: int, stop: threading.Event):
        super().__init__(name=f"citizens-{seed}", daemon=True)
        self.http = httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=10)
        self.ledger, self.rng, self.stop_event = ledger, random.Random(seed), stop
        self.live: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.ledger.calls[f"lost ({exc.__class__.__name__})"] += 1
                self.stop_event.wait(0.2)
            self.stop_event.wait(self.rng.uniform(0.05, 0.25))

    def step(self) -> None:
        roll = self.rng.random()
        led = self.ledger
        if self.live and roll < 0.15:
            booking = self.live.pop(self.rng.randrange(len(self.live)))
            with led.lock:
                led.cancelled.add(booking)  # before the call: a lost answer may still cancel
            r = self.http.post(f"/api/v1/bookings/{booking}/cancel")
            led.calls[f"cancel {r.status_code}"] += 1
            return
        offers = self.http.get("/api/v1/offers", params={"limit": 200}).json()["offers"]
        if not offers:
            return
        offer = self.rng.choice(offers)
        if self.live and roll < 0.30:
            booking = self.rng.choice(self.live)
            r = self.http.post(
                f"/api/v1/bookings/{booking}/rebook", json={"offer_id": offer["offer_id"]}
            )
            led.calls[f"rebook {r.status_code}"] += 1
            if r.status_code == 200:
                with led.lock:
                    led.caseworker[booking] = r.json()["caseworker_id"]
                    led.confirmed_at[booking] = time.time()  # the new event is awaited now
            return
        hold = self.http.post(
            "/api/v1/holds",
            json={
                "offer_id": offer["offer_id"],
                "citizen_ref": f"storm-{secrets.token_hex(4)}",
                "booked_by": "citizen",
            },
        )
        led.calls[f"hold {hold.status_code}"] += 1
        if hold.status_code != 201:
            return
        r = self.http.post(f"/api/v1/holds/{hold.json()['id']}/confirm")
        led.calls[f"confirm {r.status_code}"] += 1
        if r.status_code == 200:
            body = r.json()
            with led.lock:
                led.confirmed_at[body["id"]] = time.time()
                led.caseworker[body["id"]] = body["caseworker_id"]
            self.live.append(body["id"])


class Watcher(threading.Thread):
    """Polls the caseworker's calendar for each confirmed booking's event (the connector's own
    resource name for our external id) and notes when it first appears."""

    def __init__(self, dav: str, ledger: Ledger, stop: threading.Event) -> None:
        super().__init__(name="watcher", daemon=True)
        self.dav, self.ledger, self.stop_event = dav, ledger, stop
        self.seen: dict[str, float] = {}  # booking -> seconds from confirm to event
        self.http = httpx.Client(auth=("caseworkers", "x"), timeout=10)

    def run(self) -> None:
        while not self.stop_event.is_set():
            with self.ledger.lock:
                waiting = [
                    (b, t, self.ledger.caseworker[b])
                    for b, t in self.ledger.confirmed_at.items()
                    if b not in self.seen and b not in self.ledger.cancelled
                ]
            for booking, confirmed, cw in waiting:
                url = f"{self.dav}caseworkers/{cw}/{quote(external_id_for(booking), safe='@-._~+=')}.ics"
                try:
                    found = self.http.get(url).status_code == 200
                except httpx.HTTPError:
                    continue
                if found:
                    with self.ledger.lock:
                        if self.ledger.caseworker.get(booking) == cw:
                            self.seen[booking] = time.time() - confirmed
            self.stop_event.wait(0.2)


def warm_up(base: str, api_key: str, timeout: float = 600) -> float:
    """Until the first sync has published offers (Radicale builds its caches on first read)."""
    began = time.monotonic()
    with httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=60) as http:
        while time.monotonic() - began < timeout:
            try:
                if http.get("/api/v1/offers", params={"limit": 1}).json()["offers"]:
                    return time.monotonic() - began
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(1)
    raise TimeoutError("no offers after the first sync")


# -- the store and the calendars, afterwards --------------------------------------------------------
def converge(daemon: Daemon, url: str, since: datetime, timeout: float) -> float:
    """Wait until every calendar was synced after the last start and no write is pending, twice
    in a row a poll interval apart. Returns the seconds it took."""
    began = time.monotonic()
    db = Database(url)
    quiet = 0
    try:
        while time.monotonic() - began < timeout:
            with db.read() as s:
                stale = s.scalar(
                    select(func.count())
                    .select_from(SyncStateRow)
                    .where(
                        (SyncStateRow.last_sync_at.is_(None)) | (SyncStateRow.last_sync_at < since)
                    )
                )
                calendars = s.scalar(select(func.count()).select_from(SyncStateRow))
                pending = s.scalar(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None))
                )
            quiet = quiet + 1 if calendars and not stale and not pending else 0
            if quiet >= 3:
                return time.monotonic() - began
            time.sleep(2.5)
    finally:
        db.dispose()
    raise TimeoutError(f"no convergence within {timeout} s (pending writes: {pending})")


def calendar_items(dav: str, home: str, names: list[str]) -> dict[tuple[str, str], list]:
    """Our items per (calendar owner, external id): their (start, end)."""
    found: dict[tuple[str, str], list] = {}
    with httpx.Client(auth=(home, "x"), timeout=60) as http:
        for name in names:
            r = http.request(
                "REPORT", f"{dav}{home}/{name}/", content=REPORT_ALL.encode(),
                headers={"Depth": "1", "Content-Type": "application/xml"},
            )  # fmt: skip
            r.raise_for_status()
            for el in ElementTree.fromstring(r.content).iter(f"{{{CALDAV}}}calendar-data"):
                if not el.text:
                    continue
                ev = Calendar.from_ical(el.text).walk("VEVENT")[0]
                ext = str(ev.get("X-SELVBOOK-ID") or ev.get("UID"))
                if booking_for_external_id(ext) is None:
                    continue
                span = (ev.decoded("DTSTART"), ev.decoded("DTEND"))
                found.setdefault((name, ext), []).append(span)
    return found


MIN_BOOKINGS = 20  # fewer, and a clean result means little


@dataclass
class Outcome:
    store: str
    kills: int
    during_start: int
    seconds: float
    converge_seconds: float
    confirmed: int
    live: int
    cancelled_by_citizens: int
    missing: int
    duplicate: int
    orphan: int
    wrongly_cancelled: int
    wrong_time: int
    latencies: list[float]
    calls: Counter[str]

    def print(self) -> None:
        lat = sorted(self.latencies)
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        print(
            f"\n{self.store}: {self.kills} kills (SIGKILL; {self.during_start} while starting, "
            f"one more after the storm) in {self.seconds:.0f} s, converged "
            f"{self.converge_seconds:.0f} s after the last start"
        )
        print(
            f"  bookings: {self.confirmed} confirmed, {self.live} live at the end, "
            f"{self.cancelled_by_citizens} cancelled by citizens"
        )
        print(
            f"  missing {self.missing}, duplicate {self.duplicate}, orphan {self.orphan}, "
            f"wrongly cancelled {self.wrongly_cancelled}, wrong time {self.wrong_time}"
        )
        if lat:
            print(
                f"  confirm -> event in the caseworker's calendar: p50 {p50:.1f} s, "
                f"p95 {p95:.1f} s, max {lat[-1]:.1f} s (n={len(lat)}); "
                f"p95 / poll interval (2 s) = {p95 / 2:.1f}"
            )
        calls = ", ".join(f"{k}: {v}" for k, v in sorted(self.calls.items()))
        print(f"  API calls: {calls}")
        if not self.tested:
            print(
                f"  NOT TESTED: only {self.confirmed} bookings (at least {MIN_BOOKINGS} needed); "
                "the daemon was rarely up between kills: widen --min-gap/--max-gap"
            )

    @property
    def tested(self) -> bool:
        """Zero errors over a handful of bookings proves nothing: a machine too slow for the
        kill gaps never lets the API answer."""
        return self.confirmed >= MIN_BOOKINGS

    @property
    def clean(self) -> bool:
        errors = self.missing or self.duplicate or self.orphan or self.wrongly_cancelled
        return self.tested and not errors


def check(url: str, dav: str, caseworkers: list[str], rooms: list[str], ledger: Ledger) -> dict:
    db = Database(url)
    try:
        with db.read() as s:
            bookings = list(s.scalars(select(BookingRow)))
            rooms_of = dict(
                s.execute(
                    select(RoomAllocationRow.booking_id, RoomAllocationRow.room_id).where(
                        RoomAllocationRow.active
                    )
                ).all()
            )
            for b in bookings:
                s.expunge(b)
    finally:
        db.dispose()
    expected: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for b in bookings:
        if b.status != "confirmed":
            continue
        ext = external_id_for(b.id)
        expected[(b.caseworker_id, ext)] = (b.start, b.end)
        if b.mode == "in_person" and rooms_of.get(b.id):
            expected[(rooms_of[b.id], ext)] = (b.start, b.end)
    found = calendar_items(dav, "caseworkers", caseworkers)
    found.update(calendar_items(dav, "rooms", rooms))
    missing = sum(1 for key in expected if key not in found)
    duplicate = sum(len(v) - 1 for key, v in found.items() if key in expected and len(v) > 1)
    orphan = sum(len(v) for key, v in found.items() if key not in expected)
    wrong_time = sum(
        1
        for key, spans in found.items()
        if key in expected
        and any((a.astimezone(UTC), z.astimezone(UTC)) != (expected[key][0].astimezone(UTC),
                expected[key][1].astimezone(UTC)) for a, z in spans)
    )  # fmt: skip
    wrongly = [
        b.id
        for b in bookings
        if b.status == "cancelled" and (b.cancelled_by != "citizen" or b.id not in ledger.cancelled)
    ]
    return {
        "confirmed": sum(1 for b in bookings if b.status in ("confirmed", "cancelled")),
        "live": sum(1 for b in bookings if b.status == "confirmed"),
        "cancelled_by_citizens": sum(
            1 for b in bookings if b.status == "cancelled" and b.cancelled_by == "citizen"
        ),
        "missing": missing,
        "duplicate": duplicate,
        "orphan": orphan,
        "wrongly_cancelled": len(wrongly),
        "wrong_time": wrong_time,
    }


# -- one storm --------------------------------------------------------------------------------------
def storm(store: str, kills: int, gap: tuple[float, float], seed: int, citizens: int) -> Outcome:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix=f"storm-{store}-") as tmp:
        work = Path(tmp)
        scenario_path = bundled_scenario()
        gen = scenarios.generate(scenarios.load(scenario_path))
        write_radicale_folder(
            work / "radicale" / "collections" / "collection-root", scenario_calendars(gen)
        )
        radicale = start_radicale(work / "radicale")
        dbname = None
        admin = None
        if store == "postgres":
            dbname = f"storm_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{dbname}"'))
            url = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
        else:
            url = f"sqlite:///{work / 'syncd.db'}"
        port = free_port()
        api_key = "storm-" + secrets.token_urlsafe(24)
        config = write_demo_config(work, port, scenario_path, api_key, radicale.url)
        body = config.read_text()
        body = body.replace('database_url = "sqlite:///syncd.db"', f'database_url = "{url}"')
        body = body.replace("poll_interval_seconds = 5", "poll_interval_seconds = 2")
        body = body.replace('log_format = "console"', 'log_format = "json"\nlog_level = "warning"')
        config.write_text(body)
        base = f"http://127.0.0.1:{port}"
        daemon = Daemon(config, work / "syncd.log", base)
        ledger = Ledger()
        stop = threading.Event()
        try:
            daemon.start()
            daemon.wait_ready()
            warm = warm_up(base, api_key)
            print(f"  {store}: first read of the calendars done in {warm:.0f} s", flush=True)
            crowd = [Citizens(base, api_key, ledger, seed + i, stop) for i in range(citizens)]
            watcher = Watcher(radicale.url, ledger, stop)
            for t in (*crowd, watcher):
                t.start()
            began = time.monotonic()
            during_start = 0
            for k in range(kills):
                if rng.random() < START_KILLS:  # now and then while it is still starting
                    time.sleep(rng.uniform(0, gap[0] * 3))
                    during_start += 1
                else:  # else after 1-8 s of running (API answering, loops going)
                    daemon.wait_ready()
                    time.sleep(rng.uniform(*gap))
                daemon.kill()
                daemon.start()
                print(f"  {store}: kill {k + 1}/{kills}", end="\r", flush=True)
            seconds = time.monotonic() - began
            stop.set()
            for t in crowd:
                t.join(timeout=30)
            since = datetime.now(UTC)
            daemon.kill()  # one more, with nobody booking, then let it settle
            daemon.start()
            daemon.wait_ready()
            converged = converge(daemon, url, since, timeout=300)
            watcher.join(timeout=10)
            daemon.stop()
            cws = sorted(c.id for c in gen.directory.caseworkers)
            rms = sorted(r.id for r in gen.directory.rooms)
            found = check(url, radicale.url, cws, rms, ledger)
            return Outcome(
                store, kills + 1, during_start, seconds, converged,
                latencies=list(watcher.seen.values()), calls=ledger.calls, **found,
            )  # fmt: skip
        finally:
            stop.set()
            daemon.stop()
            radicale.stop()
            if admin is not None and dbname is not None:
                with admin.connect() as c:
                    c.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :n"
                        ),
                        {"n": dbname},
                    )
                    c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}"'))
                admin.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=30, help="SIGKILLs during the storm")
    p.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--min-gap", type=float, default=1.0, help="seconds between kills, at least")
    p.add_argument("--max-gap", type=float, default=8.0, help="seconds between kills, at most")
    p.add_argument("--citizens", type=int, default=3, help="concurrent simulated citizens")
    p.add_argument("--seed", type=int, default=11)
    a = p.parse_args()
    outcomes = [
        storm(store, a.kills, (a.min_gap, a.max_gap), a.seed, a.citizens)
        for store in (("sqlite", "postgres") if a.store == "both" else (a.store,))
    ]
    for o in outcomes:
        o.print()
    return 0 if all(o.clean for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
