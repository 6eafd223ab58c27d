"""Requests per calendar per idle sync cycle for the EWS connector, on the local EWS simulator.

An "idle cycle" is what the engine does when nothing changed: ``change_markers`` for all
calendars (EWS returns {} - no request), then ``fetch_changes`` with each calendar's stored sync
state. Also measures a cycle with 1 % of the calendars changed. Run from the repository root:

    .venv/bin/python -m bench.ews_idle            # N = 10, 100, 500
    .venv/bin/python -m bench.ews_idle 50 200     # chosen N
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.ews import EWSConnector
from tests.sims.ews import EwsSimulator, SimBackdoor

CPH = ZoneInfo("Europe/Copenhagen")
WINDOW = (datetime(2027, 1, 1, tzinfo=CPH), datetime(2027, 12, 31, tzinfo=CPH))
ITEMS_PER_CALENDAR = 20
WORKERS = 8


def populate(sim: EwsSimulator, n: int) -> list[str]:
    backdoor = SimBackdoor(sim.store)
    mailboxes = [f"sagsbehandler{i:04d}@lilleby.dk" for i in range(n)]
    for i, mbx in enumerate(mailboxes):
        sim.store.add_mailbox(mbx)
        for j in range(ITEMS_PER_CALENDAR):
            start = datetime(2027, 3, 1, 8, tzinfo=CPH) + timedelta(days=j, minutes=15 * (i % 4))
            backdoor.put_foreign_event(
                mbx, f"{mbx}-{j}", f"Møde {j}", start, start + timedelta(hours=1)
            )
    return mailboxes


def cycle(conn: EWSConnector, tokens: dict[str, str | None]) -> None:
    markers = conn.change_markers(list(tokens))
    todo = [m for m in tokens if m not in markers]  # EWS: markers are {} -> sync every calendar

    def sync(mbx: str) -> None:
        tokens[mbx] = conn.fetch_changes(mbx, tokens[mbx], *WINDOW).token

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(sync, todo))


def measure(n: int) -> dict[str, float]:
    with EwsSimulator() as sim:
        mailboxes = populate(sim, n)
        conn = EWSConnector(
            endpoint=sim.endpoint, auth="none", mailboxes=mailboxes, max_concurrency=WORKERS
        )
        tokens: dict[str, str | None] = {m: None for m in mailboxes}
        cycle(conn, tokens)  # first full sync (and exchangelib's one-off version probe)

        sim.clear_log()
        t0 = time.perf_counter()
        cycle(conn, tokens)
        idle_s = time.perf_counter() - t0
        idle = sim.requests()

        changed = mailboxes[:: max(1, n // max(1, n // 100))][: max(1, n // 100)]
        backdoor = SimBackdoor(sim.store)
        for mbx in changed:
            start = datetime(2027, 4, 1, 10, tzinfo=CPH)
            backdoor.put_foreign_event(
                mbx, f"{mbx}-new", "Nyt møde", start, start + timedelta(hours=1)
            )
        sim.clear_log()
        t0 = time.perf_counter()
        cycle(conn, tokens)
        busy_s = time.perf_counter() - t0
        busy = sim.requests()
        conn.close()
    ops = Counter(e.op for e in idle)
    return {
        "n": n,
        "idle_requests": len(idle),
        "idle_per_calendar": len(idle) / n,
        "idle_ops": dict(ops),
        "idle_seconds": idle_s,
        "changed_calendars": len(changed),
        "one_pct_requests": len(busy),
        "one_pct_per_calendar": len(busy) / n,
        "one_pct_seconds": busy_s,
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10, 100, 500]
    print(
        f"EWS idle cycle on the local simulator ({ITEMS_PER_CALENDAR} items per calendar, {WORKERS} workers)"
    )
    print(
        f"{'N':>6} {'idle req':>9} {'req/cal':>8} {'idle s':>7} {'1% chg':>7} {'req':>6} {'req/cal':>8} {'s':>6}"
    )
    for n in sizes:
        r = measure(n)
        print(
            f"{r['n']:>6} {r['idle_requests']:>9} {r['idle_per_calendar']:>8.2f} {r['idle_seconds']:>7.2f}"
            f" {r['changed_calendars']:>7} {r['one_pct_requests']:>6} {r['one_pct_per_calendar']:>8.2f}"
            f" {r['one_pct_seconds']:>6.2f}   ops idle: {r['idle_ops']}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
