"""Publishing windows for store tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from syncd.domain.slots import Interval, WindowOccurrence
from syncd.runtime import Runtime
from syncd.store.publishing import PublishResult, publish_caseworker
from tests.support.jobcentre import NOW


def publish(
    rt: Runtime,
    caseworker_id: str,
    windows: list[tuple[datetime, datetime]],
    busy: list[Interval] = (),  # type: ignore[assignment]
    types: tuple[str, ...] | None = None,
) -> PublishResult:
    with rt.db.write() as s:
        return publish_caseworker(
            s,
            rt.index,
            caseworker_id,
            [WindowOccurrence(caseworker_id, a, b, types, "test") for a, b in windows],
            list(busy),
            horizon=(NOW, NOW + timedelta(days=42)),
            zone=rt.zone,
            closing_days=rt.closing_days,
            now=rt.clock(),
        )
