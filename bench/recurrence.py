"""Recurrence expansion: how long the engine takes to expand a municipality's worth of calendar
items (3,000, a mix of series started years ago, exceptions, singles and all-day items) over the
six-week booking horizon, first pass (rules parsed) and steady state (rules reused).

The peer beside it is plain dateutil expanding the same RRULEs from their first occurrence,
without time zones, exceptions or overrides (what a naive expander does). The ratio is what to
compare between machines (they differ up to 3x in raw speed); below 1 means syncd is faster.

    .venv/bin/python bench/recurrence.py [--items 3000]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from dateutil.rrule import rrulestr

from mappings.recurrence import expand
from tests.mappings.helpers import CPH, cph
from tests.mappings.test_recurrence import calendar_load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=3000)
    args = ap.parse_args()
    items = calendar_load(args.items)
    lo = cph(2026, 11, 23)
    hi = lo + timedelta(weeks=6)

    def ours() -> tuple[int, float]:
        began = time.perf_counter()
        total = sum(len(expand(i, lo, hi, zone=CPH)) for i in items)
        return total, time.perf_counter() - began

    def peer() -> float:
        began = time.perf_counter()
        for i in items:
            if i.rrule:
                rule = rrulestr(i.rrule, dtstart=i.start.replace(tzinfo=None))
                rule.between(lo.replace(tzinfo=None), hi.replace(tzinfo=None), inc=True)
        return time.perf_counter() - began

    total, cold = ours()
    warm = min(ours()[1] for _ in range(3))
    base = min(peer() for _ in range(3))
    print(f"{len(items)} items -> {total} occurrences over 6 weeks")
    print(f"syncd expand, first pass   {cold * 1000:8.1f} ms")
    print(f"syncd expand, steady state {warm * 1000:8.1f} ms")
    print(f"dateutil RRULE peer        {base * 1000:8.1f} ms")
    print(f"ratio steady/peer {warm / base:.2f}, first/peer {cold / base:.2f}")


if __name__ == "__main__":
    main()
