"""Replica benchmark: how the idle-cycle time for N calendars falls with 1, 2 and 4 replicas.

Replicas share one PostgreSQL database and divide the calendars by leases (syncd.engine.leases).
Every request to the CalDAV server (Radicale) passes a proxy that adds ``--delay`` seconds, as a
real server would; a local Radicale is CPU-bound in one process and would otherwise hide the
effect. Each replica runs its own engine with its own bounded worker pool (``--workers``), as
separate processes would; they run here as threads of one process, which is fair because the
work is waiting on the network.

Two idle cycles are measured per replica count: with change markers (one PROPFIND per calendar
home per replica, the CalDAV floor) and without (one sync-collection REPORT per calendar, which
is what backends without a cheap marker cost, e.g. EWS).

    .venv/bin/python bench/replicas.py --calendars 2000 --delay 0.15
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency_proxy import LatencyProxy  # noqa: E402
from bench.sync import prepared_folder  # noqa: E402
from connectors.caldav import CalDAVConnector  # noqa: E402
from mappings.rules import default_rules  # noqa: E402
from syncd.config import parse_config  # noqa: E402
from syncd.devtools.radicale import start_radicale  # noqa: E402
from syncd.engine.loop import Engine  # noqa: E402
from syncd.runtime import open_runtime  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class WithoutMarkers(CalDAVConnector):
    """The same connector, but as if the server had no cheap change marker."""

    def change_markers(self, calendar_ids):  # type: ignore[no-untyped-def]
        return {}


def run(n: int, replicas: list[int], delay: float, workers: int) -> None:
    folder, gen = prepared_folder(n)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(folder / "collections", work / "radicale" / "collections", symlinks=True)
        server = start_radicale(work / "radicale")
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with LatencyProxy(server.url, delay) as proxy:
                for k in replicas:
                    for markers in (True, False):
                        dbname = f"syncd_rep_{uuid.uuid4().hex[:8]}"
                        with admin.connect() as c:
                            c.execute(text(f'CREATE DATABASE "{dbname}"'))
                        try:
                            seconds, requests = measure(gen, proxy, dbname, k, markers, workers)
                        finally:
                            with admin.connect() as c:
                                c.execute(text(f'DROP DATABASE "{dbname}" WITH (FORCE)'))
                        label = "markers" if markers else "no markers"
                        print(
                            f"N={n} replicas={k} {label:10}  idle cycle {seconds:6.2f} s  "
                            f"{requests} requests ({requests / n:.3f} per calendar)",
                            flush=True,
                        )
        finally:
            server.stop()


def measure(
    gen, proxy: LatencyProxy, dbname: str, k: int, markers: bool, workers: int
) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    base = proxy.url
    url = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
    data = {
        "database_url": url,
        "log_level": "warning",
        "backend": {"kind": "caldav", "url": base, "homes": {f"{base}caseworkers/": "caseworker"}},
        "sync": {
            "caseworker_calendar": base + "caseworkers/{id}/",
            "workers": workers,
            "lease_seconds": 600,
        },
    }
    engines = []
    for i in range(k):
        rt = open_runtime(parse_config(data), directory=gen.directory)
        cls = CalDAVConnector if markers else WithoutMarkers
        conn = cls(
            base, calendar_homes={f"{base}caseworkers/": "caseworker"}, max_connections=workers
        )
        engines.append(Engine(rt, conn, default_rules(), owner=f"replica-{i}"))
    for e in engines:
        e.leases.heartbeat()

    def all_cycles() -> float:
        t0 = time.monotonic()
        threads = [threading.Thread(target=e.cycle) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - t0

    all_cycles()  # first: every calendar read in full, leases divided
    all_cycles()  # the server finishes its caches
    proxy.reset()
    seconds = all_cycles()
    requests = proxy.reset()[0]
    for e in engines:
        e.connector.close()
        e.rt.db.dispose()
    return seconds, requests


def main() -> None:
    p = argparse.ArgumentParser(description="replica benchmark")
    p.add_argument("--calendars", type=int, default=2000)
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--delay", type=float, default=0.15)
    p.add_argument("--workers", type=int, default=16, help="sync workers per replica")
    a = p.parse_args()
    print(
        f"# replicas on PostgreSQL, {a.delay * 1000:.0f} ms per request, {a.workers} workers per replica"
    )
    run(a.calendars, a.replicas, a.delay, a.workers)


if __name__ == "__main__":
    main()
