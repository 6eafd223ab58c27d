"""Putting a generated scenario into the store: until calendars are synced (or for the booking
benchmark), the store's slots come straight from the scenario's windows."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from syncd.runtime import Runtime
from syncd.scenario import Generated
from syncd.store.publishing import publish_caseworker


def publish_generated(rt: Runtime, gen: Generated) -> int:
    """Publish every caseworker's generated windows minus busy time; returns the slot count."""
    horizon = (
        datetime.combine(gen.start, time(0), gen.zone),
        datetime.combine(gen.start + timedelta(weeks=gen.weeks), time(0), gen.zone),
    )
    windows: dict[str, list] = {}
    for w in gen.windows:
        windows.setdefault(w.caseworker_id, []).append(w)
    busy: dict[str, list] = {}
    for b in gen.busy:
        busy.setdefault(b.caseworker_id, []).append((b.start, b.end))
    total = 0
    now = rt.clock()
    ids = [c.id for c in gen.directory.caseworkers]
    for chunk_start in range(0, len(ids), 200):
        with rt.db.write() as s:
            for cw_id in ids[chunk_start : chunk_start + 200]:
                result = publish_caseworker(
                    s,
                    rt.index,
                    cw_id,
                    windows.get(cw_id, []),
                    busy.get(cw_id, []),
                    horizon=horizon,
                    zone=rt.zone,
                    closing_days=rt.closing_days,
                    strakstid_share=rt.config.publishing.strakstid_share,
                    now=now,
                )
                total += result.published
    return total
