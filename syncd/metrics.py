"""Prometheus metrics. Counters and histograms are updated where things happen; gauges that
describe the store (outbox depth, bookings by status, calendars in back-off) are read from the
database at scrape time, so every replica reports the same truth. Labels never carry a citizen
reference or a CPR number: calendars are labelled with the caseworker's or room's id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

REGISTRY = CollectorRegistry(auto_describe=True)

CYCLE_SECONDS = Histogram(
    "syncd_cycle_seconds",
    "Duration of one sync cycle over all calendars",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
    registry=REGISTRY,
)
CONNECTOR_REQUESTS = Counter(
    "syncd_connector_requests_total",
    "Calendar operations by connector and outcome (ok, error, throttled)",
    ["connector", "operation", "outcome"],
    registry=REGISTRY,
)
CONNECTOR_HTTP = Counter(
    "syncd_connector_http_requests_total",
    "HTTP requests sent to the calendar server",
    ["connector"],
    registry=REGISTRY,
)
THROTTLED = Counter(
    "syncd_connector_throttled_total",
    "Times the calendar server asked us to back off",
    ["connector"],
    registry=REGISTRY,
)
BOOKING_TO_CALENDAR = Histogram(
    "syncd_booking_to_calendar_seconds",
    "Time from a confirmed booking to its event in the caseworker's calendar",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
ALLOCATIONS = Counter(
    "syncd_allocations_total", "Rooms allocated to bookings", ["reason"], registry=REGISTRY
)
ALLOCATION_FAILURES = Counter(
    "syncd_allocation_failures_total",
    "Bookings that found no suitable free room",
    ["reason"],
    registry=REGISTRY,
)
NOTICES = Counter(
    "syncd_notices_total",
    "E-mail notices to coordinators, by kind and result (sent, failed)",
    ["kind", "result"],
    registry=REGISTRY,
)
PUSH_NOTIFICATIONS = Counter(
    "syncd_push_notifications_total",
    "Push notifications received, by backend and kind (change, missed, subscriptionRemoved, "
    "reauthorizationRequired, rejected: wrong clientState, unknown: no such subscription)",
    ["backend", "kind"],
    registry=REGISTRY,
)
PUSH_LAG = Histogram(
    "syncd_push_hint_to_sync_seconds",
    "Time from a push notification reaching syncd to the calendar's sync having finished",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)


class StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from syncd.store.tables import (
            BookingRow,
            OutboxRow,
            PushSubscriptionRow,
            QuarantineRow,
            SyncStateRow,
        )

        rt = self.rt
        now: datetime = rt.clock()
        with rt.db.read() as s:
            bookings = GaugeMetricFamily("syncd_bookings", "Bookings by status", labels=["status"])
            for status, count in s.execute(
                select(BookingRow.status, func.count()).group_by(BookingRow.status)
            ):
                bookings.add_metric([status], count)
            yield bookings
            pending = s.execute(
                select(func.count(), func.min(OutboxRow.created_at)).where(
                    OutboxRow.done_at.is_(None)
                )
            ).one()
            yield GaugeMetricFamily(
                "syncd_outbox_depth", "Calendar writes waiting", value=pending[0]
            )
            oldest = (now - pending[1]).total_seconds() if pending[1] else 0.0
            yield GaugeMetricFamily(
                "syncd_outbox_oldest_age_seconds",
                "Age of the oldest waiting calendar write",
                value=oldest,
            )
            failing = s.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.done_at.is_(None), OutboxRow.last_error.is_not(None))
            )
            yield GaugeMetricFamily(
                "syncd_outbox_failing",
                "Calendar writes whose last attempt failed",
                value=failing or 0,
            )
            yield GaugeMetricFamily(
                "syncd_quarantined_items",
                "Calendar items that could not be read",
                value=s.scalar(select(func.count()).select_from(QuarantineRow)) or 0,
            )
            states = list(s.scalars(select(SyncStateRow)))
            subscriptions = GaugeMetricFamily(
                "syncd_push_subscriptions",
                "Push subscriptions by backend and state (active, pending, broken, removed)",
                labels=["backend", "state"],
            )
            for backend, state, count in s.execute(
                select(
                    PushSubscriptionRow.backend, PushSubscriptionRow.state, func.count()
                ).group_by(PushSubscriptionRow.backend, PushSubscriptionRow.state)
            ):
                subscriptions.add_metric([backend, state], count)
            yield subscriptions
        backoff = sum(1 for st in states if st.backoff_until and st.backoff_until > now)
        yield GaugeMetricFamily(
            "syncd_calendars_in_backoff", "Calendars waiting after errors", value=backoff
        )
        lag = GaugeMetricFamily(
            "syncd_calendar_sync_lag_seconds",
            "Seconds since the last successful sync of each calendar",
            labels=["kind", "owner"],
        )
        for st in states:
            if st.last_success_at:
                lag.add_metric([st.kind, st.owner_id], (now - st.last_success_at).total_seconds())
        yield lag
        yield from _capacity(rt)


def _capacity(rt: Any) -> Iterator[GaugeMetricFamily]:
    """Kapacitet: citizens projected to get no time, per site, type and ISO week, from the
    latest forecast (never built at scrape time: it takes seconds on a large jobcentre)."""
    from syncd.capacity_report import reports_of, week_text

    report = reports_of(rt).latest()
    if report is None:
        return
    gauge = GaugeMetricFamily(
        "syncd_capacity_shortfall",
        "Citizens projected to get no time by their latest date at the forecast level, "
        "per site, conversation type and ISO week",
        labels=["site", "type", "week"],
    )
    for r in report.forecast.rows:
        if r.type_code:
            gauge.add_metric([r.site_id, r.type_code, week_text(r.week)], r.shortfall)
    yield gauge


def register_store(runtime: Any) -> None:
    """Report this runtime's store (the latest one wins, e.g. in tests that open several)."""
    global _store_collector
    if _store_collector is not None:
        REGISTRY.unregister(_store_collector)
    _store_collector = StoreCollector(runtime)
    REGISTRY.register(_store_collector)


_store_collector: StoreCollector | None = None
