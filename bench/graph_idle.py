"""Graph idle-cycle benchmark: requests per calendar per sync cycle, with and without $batch.

Starts the local Graph simulator (tests/sims/graph) with N mailboxes of ``--items`` events
each, lets the Graph connector establish its change markers once, then runs idle cycles (what
the engine does when nothing changed: ``change_markers`` for every calendar, no fetch) and busy
cycles (5 % of calendars changed in Outlook: markers, then ``fetch_changes`` for those). Counts
come from the simulator's request log: HTTP requests over the wire (a $batch counts once) and
Graph sub-requests (what Exchange Online's per-mailbox limits count).

    .venv/bin/python bench/graph_idle.py [--mailboxes 40,200,1000] [--items 20] [--cycles 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sims.graph.harness import OutlookBackdoor, connector_for, simulator

CPH = ZoneInfo("Europe/Copenhagen")


def populate(sim, count: int, items: int) -> list[str]:
    mailboxes = [f"sagsbehandler{n:04d}@lilleby.dk" for n in range(count)]
    person = OutlookBackdoor(sim)
    start = datetime.now(CPH).replace(hour=9, minute=0, second=0, microsecond=0)
    for mailbox in mailboxes:
        sim.state.add_mailbox(mailbox)
        for n in range(items):
            day = start + timedelta(days=n % 30)
            person.put_foreign_event(
                mailbox, f"{mailbox}-{n}", f"Møde {n}", day, day + timedelta(hours=1)
            )
    return mailboxes


def run(count: int, items: int, cycles: int, use_batch: bool) -> dict[str, float]:
    with simulator() as sim:
        mailboxes = populate(sim, count, items)
        connector = connector_for(sim, mailboxes=tuple(mailboxes), use_batch=use_batch)
        now = datetime.now(CPH)
        horizon = (now - timedelta(days=1), now + timedelta(days=60))
        try:
            tokens = {m: connector.fetch_changes(m, None, *horizon).token for m in mailboxes}
            markers = connector.change_markers(mailboxes)  # first cycle: cursors made
            sim.clear_log()
            began = time.perf_counter()
            for _ in range(cycles):
                assert connector.change_markers(mailboxes) == markers
            idle_seconds = (time.perf_counter() - began) / cycles
            idle_http = len(sim.http_requests()) / cycles
            idle_subs = sum(1 for e in sim.entries() if e.kind in ("graph", "sub")) / cycles

            person = OutlookBackdoor(sim)
            changed = mailboxes[::20]  # 5 %
            sim.clear_log()
            began = time.perf_counter()
            for cycle in range(cycles):
                when = now + timedelta(days=2, hours=cycle)
                for mailbox in changed:
                    person.put_foreign_event(
                        mailbox, f"new-{cycle}-{mailbox}", "Ny", when, when + timedelta(hours=1)
                    )
                fresh = connector.change_markers(mailboxes)
                dirty = [m for m in mailboxes if fresh.get(m) != markers.get(m)]
                assert set(dirty) == set(changed), "markers missed or invented a change"
                for mailbox in dirty:
                    tokens[mailbox] = connector.fetch_changes(
                        mailbox, tokens[mailbox], *horizon
                    ).token
                markers = fresh
            busy_seconds = (time.perf_counter() - began) / cycles
            busy_http = len(sim.http_requests()) / cycles
        finally:
            connector.close()
    return {
        "idle_http": idle_http / count,
        "idle_sub": idle_subs / count,
        "idle_s": idle_seconds,
        "busy_http": busy_http / count,
        "busy_s": busy_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", default="40,200,1000")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Graph connector on the local simulator, {args.items} events per mailbox, "
        f"mean of {args.cycles} cycles"
    )
    print(
        f"{'mailboxes':>9} {'$batch':>6} | {'idle: HTTP req/cal':>18} {'Graph req/cal':>13} "
        f"{'s/cycle':>8} | {'5% changed: HTTP req/cal':>24} {'s/cycle':>8}"
    )
    for count in (int(n) for n in args.mailboxes.split(",")):
        for use_batch in (True, False):
            r = run(count, args.items, args.cycles, use_batch)
            print(
                f"{count:>9} {'yes' if use_batch else 'no':>6} | {r['idle_http']:>18.3f} "
                f"{r['idle_sub']:>13.3f} {r['idle_s']:>8.3f} | {r['busy_http']:>24.3f} "
                f"{r['busy_s']:>8.3f}"
            )


if __name__ == "__main__":
    main()
