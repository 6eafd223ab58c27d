"""Booking benchmark: many concurrent citizens reserving and confirming over real HTTP.

Starts ``syncd serve`` (a separate process) on SQLite or PostgreSQL with a jobcentre from a
scenario (default: the large scenario's shape with 400 caseworkers at its four sites, enough free
times for a 20 s run at 200 bookings a second; the small scenario's 40 caseworkers can take only
about 1,200 bookings in all). It then drives it with N concurrent clients at a target rate of
bookings per second, and prints throughput, p50/p99 latency and the double bookings found in
the store (must be 0).

The citizens book distinct offers that can all be booked together (one mode per slot, no two
overlapping times of one caseworker, her weekly cap kept), in random order: a conflict is then
a fault of the server, not of the workload. ``--contention`` instead lets them pick offers at
random, with the conflicts that brings.

    .venv/bin/python bench/booking.py                 # both backends, 200 clients, 210/s, 20 s
    .venv/bin/python bench/booking.py --backend postgres --rate 0   # closed loop: max throughput
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, percentile, start_syncd, wait_http
from syncd.config import hash_api_key
from syncd.store.db import Database
from syncd.store.verify import find_violations

KEY = "bench-key-" + "x" * 24
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


DATA = Path(__file__).resolve().parent.parent / "syncd" / "data"


def bench_scenario(workdir: Path, caseworkers: int) -> Path:
    """The large scenario's jobcentre (four sites, their rooms, its conversation types) with
    ``caseworkers`` caseworkers."""
    if caseworkers <= 40:
        return DATA / "small.toml"
    text_ = (DATA / "large.toml").read_text()
    text_ = re.sub(r"(?m)^count = \d+", f"count = {caseworkers}", text_, count=1)
    path = workdir / "scenario.toml"
    path.write_text(text_)
    return path


def write_config(workdir: Path, url: str, port: int, scenario: Path, workers: int = 1) -> Path:
    path = workdir / "syncd.toml"
    path.write_text(
        f'database_url = "{url}"\nscenario = "{scenario}"\nlog_level = "warning"\n'
        f"[api]\nport = {port}\nworkers = {workers}\n"
        f'[[api.keys]]\nname = "bench"\nhash = "{hash_api_key(KEY)}"\n'
    )
    return path


def bookable_offers(base: str, scenario: Path, contention: bool) -> list[str]:
    """Offer ids for the citizens, in random order (see the module's docstring)."""
    rng = random.Random(7)
    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=60) as http:
        types = {t["code"]: t for t in http.get("/api/v1/conversation-types").json()}
        sites = [x["id"] for x in http.get("/api/v1/sites").json()]
        offers: list[dict[str, str]] = []
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for n in range(1, 43):
            for site in sites:
                params = {
                    "site": site,
                    "from": (day + timedelta(days=n)).isoformat(),
                    "to": (day + timedelta(days=n + 1)).isoformat(),
                    "limit": 5000,
                }
                offers += http.get("/api/v1/offers", params=params).json()["offers"]
    if contention:
        ids = [o["offer_id"] for o in offers]
        return [rng.choice(ids) for _ in range(len(ids))]
    cap = tomllib.loads(scenario.read_text())["caseworkers"].get("conversations_per_week_cap")
    by_slot: dict[str, list[dict[str, str]]] = defaultdict(list)
    for o in offers:
        by_slot[o["offer_id"].rpartition("~")[0]].append(o)
    taken: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    per_week: dict[tuple[str, int], int] = defaultdict(int)
    chosen = []
    slots = list(by_slot.values())
    rng.shuffle(slots)
    for modes in slots:
        o = rng.choice(modes)
        t = types[o["type"]]
        start = datetime.fromisoformat(o["start"]) - timedelta(minutes=t["buffer_before_minutes"])
        end = datetime.fromisoformat(o["end"]) + timedelta(minutes=t["buffer_after_minutes"])
        cw, week = o["caseworker_id"], start.isocalendar()[1]
        if cap is not None and per_week[(cw, week)] >= cap:
            continue
        if any(s < end and start < e for s, e in taken[cw]):
            continue
        taken[cw].append((start, end))
        per_week[(cw, week)] += 1
        chosen.append(o["offer_id"])
    return chosen


async def run_load(
    base: str, clients: int, rate: float, seconds: float, ids: list[str]
) -> dict[str, object]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": KEY}, limits=limits, timeout=30
    ) as http:
        pending = iter(ids)
        latencies: list[float] = []
        outcomes = {"confirmed": 0, "conflict": 0, "error": 0}
        rng = random.Random(1)
        stop_at = time.monotonic() + seconds
        interval = clients / rate if rate > 0 else 0.0

        async def citizen(n: int) -> None:
            next_at = time.monotonic() + rng.random() * interval
            while True:
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval
                offer = next(pending, None)
                if time.monotonic() >= stop_at or offer is None:
                    return
                t0 = time.perf_counter()
                hold = await http.post(
                    "/api/v1/holds",
                    json={"offer_id": offer, "citizen_ref": f"bench-{n}-{uuid.uuid4().hex[:6]}"},
                )
                if hold.status_code == 201:
                    done = await http.post(f"/api/v1/holds/{hold.json()['id']}/confirm")
                    ok = done.status_code == 200
                else:
                    ok = False
                    done = hold
                latencies.append(time.perf_counter() - t0)
                if ok:
                    outcomes["confirmed"] += 1
                elif done.status_code in (404, 409):
                    outcomes["conflict"] += 1
                else:
                    outcomes["error"] += 1

        started = time.monotonic()
        await asyncio.gather(*(citizen(n) for n in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "offers": len(ids),
        "attempts": len(latencies),
        "elapsed": elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        **outcomes,
    }


def settle_store(url: str) -> None:
    """Vacuum and analyse the freshly loaded store before the run, as autovacuum would long
    have done in a running system; otherwise it starts on the new tables in the middle of
    the measurement."""
    if not url.startswith("postgresql"):
        return
    engine = create_engine(
        "postgresql+psycopg://" + url.removeprefix("postgresql://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def run_wrk(
    base: str, clients: int, rate: float, seconds: float, work: Path, ids: list[str]
) -> dict[str, object]:
    """Drive the API with wrk (a C load generator), so the client does not eat the CPU the
    server needs; per-request latency comes from wrk's own histogram."""
    path = work / "offers.txt"
    path.write_text("\n".join(ids) + "\n")
    env = {
        **os.environ, "OFFERS_FILE": str(path), "API_KEY": KEY,
        "RATE": str(rate or 1e9), "CONNECTIONS": str(clients), "THREADS": "2",
    }  # fmt: skip
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s", "-s",
         str(Path(__file__).with_name("booking.lua")), base],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for x in out.splitlines():
        if x.startswith(("ERROR", "CONFLICT")):
            print("  wrk:", x, flush=True)
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return {
        "offers": len(ids),
        "attempts": int(fields["reserved"]),
        "elapsed": float(fields["seconds"]),
        "p50_ms": float(fields["p50_ms"]),
        "p99_ms": float(fields["p99_ms"]),
        "confirmed": int(fields["confirmed"]),
        "conflict": int(fields["conflicts"]),
        "error": int(fields["errors"]),
    }


def bench_backend(
    backend: str,
    clients: int,
    rate: float,
    seconds: float,
    workers: int,
    client: str,
    caseworkers: int,
    contention: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenario = bench_scenario(work, caseworkers)
        dbname = None
        if backend == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        else:
            dbname = f"syncd_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{dbname}"'))
            url = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
        port = free_port()
        proc = start_syncd(write_config(work, url, port, scenario, workers), "serve")
        try:
            wait_http(f"http://127.0.0.1:{port}/openapi.json", timeout=600)
            base = f"http://127.0.0.1:{port}"
            ids = bookable_offers(base, scenario, contention)
            settle_store(url)
            if client == "wrk":
                result = run_wrk(base, clients, rate, seconds, work, ids)
            else:
                result = asyncio.run(run_load(base, clients, rate, seconds, ids))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        db = Database(url)
        problems = find_violations(db)
        db.dispose()
        if dbname:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{dbname}" WITH (FORCE)'))
    tput = result["confirmed"] / result["elapsed"]  # type: ignore[operator]
    attempts = result["attempts"] / result["elapsed"]  # type: ignore[operator]
    print(
        f"{backend:9} [{client}] workers={workers} clients={clients} target={rate or 'max'}/s  attempts={attempts:6.1f}/s "
        f"confirmed={tput:6.1f}/s  conflicts={result['conflict']} errors={result['error']}  "
        f"p50={result['p50_ms']:.1f} ms  p99={result['p99_ms']:.1f} ms  "
        f"double bookings={len(problems)}  (offers for the citizens: {result['offers']})",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument(
        "--rate",
        type=float,
        default=210,
        help="reservations per second (0: closed loop). wrk's pacing loses a few per cent of "
        "the schedule to confirmations racing for a connection, so 210 yields about 200 "
        "confirmations per second",
    )
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="API worker processes (default: 1 on SQLite, whose writers share one file lock, "
        "and 2 on PostgreSQL)",
    )
    p.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator (wrk: Debian's, per-request latency; python: per-booking latency)",
    )
    p.add_argument(
        "--caseworkers",
        type=int,
        default=400,
        help="caseworkers (40 or fewer: the small scenario; more: the large one's shape)",
    )
    p.add_argument("--contention", action="store_true", help="citizens pick offers at random")
    a = p.parse_args()
    for backend in ("sqlite", "postgres") if a.backend == "both" else (a.backend,):
        bench_backend(
            backend,
            a.clients,
            a.rate,
            a.seconds,
            a.workers or (1 if backend == "sqlite" else 2),
            a.client,
            a.caseworkers,
            a.contention,
        )


if __name__ == "__main__":
    main()
