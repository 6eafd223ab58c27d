"""Three ``syncd run`` processes on one PostgreSQL and a real Radicale. One is killed with
SIGKILL in the middle of its work; its calendars are taken over within the lease time and no
calendar event is duplicated or lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from syncd.domain.holidays import danish_public_holidays
from syncd.store.tables import BookingRow, SyncStateRow
from tests.engine.world import CASEWORKERS, ROOMS, _ensure, ics
from tests.support.jobcentre import API_KEY, CPH, config

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
LEASE = 3.0


def working_day_ahead(days: int = 7) -> date:
    """A weekday at least ``days`` ahead of today that is no Danish public holiday: the
    processes under test run on the real clock, so their windows must lie in its future."""
    day = datetime.now(CPH).date() + timedelta(days=days)
    while day.weekday() >= 5 or day in danish_public_holidays(day.year):
        day += timedelta(days=1)
    return day


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)  # polling interval with a deadline, not a guess at readiness


def write_config(path: Path, pg_url: str, dav: str) -> None:
    import tomllib  # noqa: F401  (the file below must stay valid TOML)

    base = config(pg_url).model_dump(mode="json", exclude_none=True)
    lines = [f'database_url = "{pg_url}"', 'log_level = "warning"']
    lines += [
        "[api]",
        "[[api.keys]]",
        'name = "jobnet"',
        f'hash = "{base["api"]["keys"][0]["hash"]}"',
    ]
    lines += ["[backend]", 'kind = "caldav"', f'url = "{dav}"']
    lines += [f'homes = {{ "{dav}caseworkers/" = "caseworker", "{dav}rooms/" = "room" }}']
    lines += ["[sync]", "poll_interval_seconds = 0.3", f"lease_seconds = {LEASE}"]
    lines += [
        f'caseworker_calendar = "{dav}caseworkers/{{id}}/"',
        f'room_calendar = "{dav}rooms/{{id}}/"',
    ]
    for site in base["sites"]:
        lines += ["[[sites]]", f'id = "{site["id"]}"', f'name = "{site["name"]}"']
    for r in base["rooms"]:
        feats = ", ".join(f'"{f}"' for f in r.get("features", []))
        lines += [
            "[[rooms]]",
            f'id = "{r["id"]}"',
            f'site = "{r["site"]}"',
            f'name = "{r["name"]}"',
            f"capacity = {r['capacity']}",
            f"features = [{feats}]",
        ]
    for t in base["conversation_types"]:
        modes = ", ".join(f'"{m}"' for m in t["modes"])
        lines += [
            "[[conversation_types]]",
            f'code = "{t["code"]}"',
            f'title = "{t["title"]}"',
            f"minutes = {t['minutes']}",
        ]
        lines += [
            f"buffer_after_minutes = {t['buffer_after_minutes']}",
            f"modes = [{modes}]",
            f"min_room_capacity = {t['min_room_capacity']}",
        ]
    for c in base["caseworkers"]:
        lines += [
            "[[caseworkers]]",
            f'id = "{c["id"]}"',
            f'name = "{c["name"]}"',
            f'site = "{c["site"]}"',
        ]
    path.write_text("\n".join(lines) + "\n")


def test_sigkill_one_of_three_replicas(radicale, pg_url, tmp_path):
    day = working_day_ahead()
    start, end = (datetime.combine(day, dtime(h), CPH) for h in (9, 15))
    for cw in CASEWORKERS:
        _ensure(radicale, "caseworkers", cw, "caseworker")
        radicale.put_ics(
            f"{radicale.url}caseworkers/{cw}/w.ics",
            ics(f"w-{cw}", "Selvbook", start, end),
            user="caseworkers",
        )
    for room in ROOMS:
        _ensure(radicale, "rooms", room, "room")
    cfg = tmp_path / "syncd.toml"
    write_config(cfg, pg_url, radicale.url)
    ports = [_port() for _ in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "-c", str(cfg), "run", "--port", str(p)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for p in ports
    ]  # fmt: skip
    db = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        apis = [
            httpx.Client(
                base_url=f"http://127.0.0.1:{p}", headers={"X-API-Key": API_KEY}, timeout=20
            )
            for p in ports
        ]

        def offers(api):
            try:
                return api.get("/api/v1/offers", params={"limit": 200}).json()["offers"]
            except (httpx.HTTPError, KeyError, ValueError):
                return []

        pool = wait_for(
            "offers from the calendars",
            lambda: offers(apis[0]) if len(offers(apis[0])) >= 20 else None,
            90,
        )

        def book(api, n):
            taken = 0
            for o in offers(api):
                if taken >= n:
                    break
                h = api.post(
                    "/api/v1/holds", json={"offer_id": o["offer_id"], "citizen_ref": f"r{taken}"}
                )
                if (
                    h.status_code == 201
                    and api.post(f"/api/v1/holds/{h.json()['id']}/confirm").status_code == 200
                ):
                    taken += 1
            return taken

        assert pool and book(apis[0], 4) == 4

        def owners():
            with db.connect() as c:
                return dict(
                    c.execute(select(SyncStateRow.calendar_id, SyncStateRow.lease_owner)).all()
                )

        wait_for(
            "three replicas sharing the calendars",
            lambda: len({o for o in owners().values() if o}) == 3,
            60,
        )
        # Kill the replica that holds the first caseworker calendar, in the middle of its cycles.
        victim_owner = owners()[f"{radicale.url}caseworkers/mette/"]
        victim_pid = int(victim_owner.rsplit(":", 1)[1])
        victim = next(p for p in procs if p.pid == victim_pid)
        os.kill(victim_pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        survivor = apis[
            [p.pid for p in procs].index(next(p.pid for p in procs if p.pid != victim_pid))
        ]
        assert book(survivor, 3) == 3
        wait_for(
            "the dead replica's calendars taken over",
            lambda: all(o and o != victim_owner for o in owners().values()),
            120,
        )
        takeover = time.monotonic() - killed_at
        # Leases run out after LEASE seconds; a survivor notices at its next check (0.3 s), and
        # a replica silent for 2 leases no longer counts towards the fair share.
        assert takeover < 3 * LEASE + 15, f"takeover took {takeover:.1f} s"

        def converged():
            with db.connect() as c:
                confirmed = (
                    c.execute(select(BookingRow.id).where(BookingRow.status == "confirmed"))
                    .scalars()
                    .all()
                )
            events = Counter()
            for cw in CASEWORKERS:
                folder = radicale.folder / "collection-root" / "caseworkers" / cw
                for f in folder.glob("selvbook-*.ics"):
                    events[f.stem] += 1
            return (
                confirmed
                if len(confirmed) == 7
                and sorted(events) == sorted(f"selvbook-{b}" for b in confirmed)
                else None
            )

        confirmed = wait_for("every booking in its caseworker's calendar", converged, 120)
        assert len(confirmed) == 7
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        db.dispose()
