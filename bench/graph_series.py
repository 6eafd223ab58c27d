"""Graph recurring-series benchmark: what reading series whole costs against Exchange Online's
real delta shape (series master plus occurrence stubs, silence about deleted occurrences).

Starts the local Graph simulator with N caseworker mailboxes, each with one weekly "Selvbook"
window series (``--weeks`` occurrences) and ``--singles`` ordinary meetings, then measures:

- the first (full) round of every calendar: Graph (sub-)requests and seconds, against a floor
  where the same windows are single events (no series: nothing to hydrate);
- an incremental round after one occurrence was deleted in 10 % of the calendars: requests per
  changed calendar (delta plus one batched /instances listing) against the floor of delta
  alone, and whether every deleted occurrence disappeared.

    .venv/bin/python bench/graph_series.py [--caseworkers 50] [--weeks 8] [--singles 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mappings.recurrence import expand
from tests.sims.graph.harness import OutlookBackdoor, connector_for, simulator

CPH = ZoneInfo("Europe/Copenhagen")


def graph_requests(sim) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for e in sim.entries() if e.kind in ("graph", "sub"))


def run(caseworkers: int, weeks: int, singles: int, as_series: bool) -> dict[str, float]:
    start = (datetime.now(CPH) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    horizon = (start - timedelta(days=1), start + timedelta(days=7 * weeks + 1))
    with simulator() as sim:
        person = OutlookBackdoor(sim)
        mailboxes = [f"sagsbehandler{n:04d}@lilleby.dk" for n in range(caseworkers)]
        for mailbox in mailboxes:
            sim.state.add_mailbox(mailbox)
            end = start + timedelta(hours=3)
            if as_series:
                person.put_foreign_event(
                    mailbox, f"{mailbox}-ws", "Selvbook", start, end,
                    rrule=f"FREQ=WEEKLY;COUNT={weeks}",
                )  # fmt: skip
            else:
                for w in range(weeks):
                    shift = timedelta(days=7 * w)
                    person.put_foreign_event(
                        mailbox, f"{mailbox}-w{w}", "Selvbook", start + shift, end + shift
                    )
            for n in range(singles):
                day = start + timedelta(days=1 + n % (7 * weeks - 1), hours=4)
                person.put_foreign_event(
                    mailbox, f"{mailbox}-{n}", f"Møde {n}", day, day + timedelta(hours=1)
                )
        connector = connector_for(sim, mailboxes=tuple(mailboxes))
        try:
            began = time.perf_counter()
            tokens = {m: connector.fetch_changes(m, None, *horizon).token for m in mailboxes}
            full_seconds = time.perf_counter() - began
            full_requests = graph_requests(sim)
            changed = mailboxes[:: max(1, caseworkers // max(1, caseworkers // 10))][
                : max(1, caseworkers // 10)
            ]
            gone = start + timedelta(days=7)
            for mailbox in changed:
                if as_series:
                    person.delete_occurrence(mailbox, f"{mailbox}-ws", gone)
                else:
                    person.delete_event(mailbox, f"{mailbox}-w1")
            sim.clear_log()
            began = time.perf_counter()
            correct = 0
            for mailbox in changed:
                changes = connector.fetch_changes(mailbox, tokens[mailbox], *horizon)
                windows = [i for i in changes.changed if i.summary == "Selvbook"]
                if as_series:
                    [series] = windows
                    left = [o.start for o in expand(series, *horizon, zone=CPH)]
                    correct += gone not in left and len(left) == weeks - 1
                else:
                    correct += len(changes.deleted) == 1
            incr_seconds = time.perf_counter() - began
            incr_requests = graph_requests(sim)
        finally:
            connector.close()
    return {
        "full_requests": full_requests,
        "full_ms_per_calendar": 1000 * full_seconds / caseworkers,
        "incr_requests_per_changed": incr_requests / len(changed),
        "incr_ms_per_changed": 1000 * incr_seconds / len(changed),
        "changed": len(changed),
        "correct": correct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--caseworkers", type=int, default=50)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--singles", type=int, default=10)
    args = parser.parse_args()
    series = run(args.caseworkers, args.weeks, args.singles, as_series=True)
    floor = run(args.caseworkers, args.weeks, args.singles, as_series=False)
    print(
        f"{args.caseworkers} calendars, a weekly window series of {args.weeks} + "
        f"{args.singles} meetings each (floor: the same windows as single events)"
    )
    print(
        f"full round: {series['full_requests']:.0f} Graph requests "
        f"(floor {floor['full_requests']:.0f}, ratio "
        f"{series['full_requests'] / floor['full_requests']:.2f}), "
        f"{series['full_ms_per_calendar']:.1f} ms per calendar "
        f"(floor {floor['full_ms_per_calendar']:.1f})"
    )
    print(
        f"one occurrence deleted in {series['changed']} calendars: "
        f"{series['incr_requests_per_changed']:.1f} requests per changed calendar "
        f"(floor {floor['incr_requests_per_changed']:.1f}, ratio "
        f"{series['incr_requests_per_changed'] / floor['incr_requests_per_changed']:.2f}), "
        f"{series['incr_ms_per_changed']:.1f} ms (floor {floor['incr_ms_per_changed']:.1f}); "
        f"deleted occurrence gone in {series['correct']:.0f}/{series['changed']}"
    )


if __name__ == "__main__":
    main()
