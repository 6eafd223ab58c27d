"""The Kapacitet report: reads demand, history and supply from the store, runs the forecast and
writes the advice. The one place where the pure capacity domain meets the store; the dashboard,
the API, the metrics and the notices all read the same report.

A report takes seconds on a large jobcentre, so it is kept for ``ttl`` and rebuilt when the
demand changes (an import) or the time runs out.
"""

from __future__ import annotations

import csv
import io
import threading
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from syncd.capacity.advice import Advice, advise
from syncd.capacity.behaviour import Behaviour, learn_all
from syncd.capacity.demand import DemandCount, monday_of
from syncd.capacity.forecast import ALL_TYPES, Forecast, forecast
from syncd.logs import get_logger
from syncd.store import capacity as store

log = get_logger("syncd.capacity")

WEEKS_AHEAD = 6
LOOKBACK_WEEKS = 2  # past weeks read so citizens booking now spread over known offers


@dataclass
class Report:
    today: date
    weeks: list[date]
    forecast: Forecast
    advice: list[Advice]
    behaviours: dict[tuple[str, str], Behaviour]
    demand: list[DemandCount]
    built_at: datetime
    site_names: dict[str, str] = field(default_factory=dict)
    type_titles: dict[str, str] = field(default_factory=dict)

    def shortfalls(self) -> dict[tuple[str, str, date], int]:
        """Times missing per (site, type, week) for the weeks that fall short."""
        return {(r.site_id, r.type_code, r.week): r.shortfall for r in self.forecast.short_weeks()}


def build(rt: Any, *, weeks_ahead: int = WEEKS_AHEAD, runs: int = 200, seed: int = 17,
          level: float = 0.9) -> Report:  # fmt: skip
    """The report for this week and the ``weeks_ahead`` - 1 weeks after it."""
    now: datetime = rt.clock()
    today = now.astimezone(rt.zone).date()
    first = monday_of(today)
    weeks = [first + timedelta(weeks=k) for k in range(weeks_ahead)]
    known = [first - timedelta(weeks=k) for k in range(LOOKBACK_WEEKS, 0, -1)] + weeks
    with rt.db.read() as s:
        demand = store.load_demand(s, first - timedelta(weeks=4), weeks[-1] + timedelta(weeks=1))
        facts = store.history(s, rt.index, rt.zone, now)
        sup = store.supply(s, rt.index, rt.zone, known, demand, rt.closing_days)
    behaviours = learn_all(facts, today)
    fc = forecast(demand, behaviours, sup.capacity, weeks, runs=runs, seed=seed, level=level,
                  pools=sup.pools, steps=sup.steps)  # fmt: skip
    sites = {s.id: s.name for s in rt.index.directory.sites}
    titles = {t.code: t.title for t in rt.index.directory.conversation_types}
    return Report(today, weeks, fc, advise(fc.rows, sites, titles), behaviours, demand, now,
                  sites, titles)  # fmt: skip


class Reports:
    """The latest report, rebuilt at most every ``ttl`` seconds or after ``invalidate``.
    ``on_build`` hears every new report (metrics, notices)."""

    def __init__(self, rt: Any, ttl: float = 300.0, **options: Any) -> None:
        self.rt = rt
        self.ttl = ttl
        self.options = options
        self._lock = threading.Lock()
        self._report: Report | None = None
        self._last: Report | None = None  # kept through invalidate, for metrics
        self._at = 0.0
        self.listeners: list[Callable[[Report], None]] = []

    def latest(self) -> Report | None:
        """The last report built, however old (None before the first)."""
        with self._lock:
            return self._report or self._last

    def invalidate(self) -> None:
        with self._lock:
            self._report = None

    def current(self) -> Report:
        with self._lock:
            fresh = self._report is not None and clock.monotonic() - self._at < self.ttl
            if fresh and self._report.today == self.rt.clock().astimezone(self.rt.zone).date():  # type: ignore[union-attr]
                return self._report  # type: ignore[return-value]
            report = build(self.rt, **self.options)
            self._report, self._last, self._at = report, report, clock.monotonic()
        for listener in self.listeners:
            listener(report)
        return report


def reports_of(rt: Any) -> Reports:
    """The runtime's one report cache (created on first use), shared by the dashboard, the
    API, the metrics and the notices."""
    existing = rt.extras.get("capacity_reports")
    if existing is None:
        c = rt.config.capacity
        existing = rt.extras["capacity_reports"] = Reports(
            rt, weeks_ahead=c.weeks_ahead, runs=c.runs, level=c.level, seed=c.seed
        )
    return existing  # type: ignore[no-any-return]


def start_refresh(rt: Any, minutes: float) -> threading.Event:
    """Rebuild the report every ``minutes`` in the background, so the metrics and the
    notices follow new bookings and demand without anyone opening the page."""
    stop = threading.Event()
    reports = reports_of(rt)

    def loop() -> None:
        while True:
            try:
                reports.invalidate()
                reports.current()
            except Exception:
                log.exception("capacity forecast failed")
            if stop.wait(minutes * 60):
                return

    threading.Thread(target=loop, name="capacity", daemon=True).start()
    return stop


def week_text(week: date) -> str:
    iso = week.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def to_json(report: Report) -> dict[str, Any]:
    """The report as the API serves it: counts, bands and advice, never a person."""
    return {
        "today": report.today.isoformat(),
        "level": report.forecast.rows[0].level if report.forecast.rows else 0.9,
        "weeks": [
            {
                "site": r.site_id,
                "type": r.type_code or None,
                "week": week_text(r.week),
                "offers": r.offers,
                "booked": r.booked,
                "bookings_expected": round(r.demand_mean, 1),
                "bookings_low": round(r.demand_low, 1),
                "bookings_high": round(r.demand_high, 1),
                "without_time_expected": round(r.unmet_mean, 1),
                "shortfall": r.shortfall,
                "short": r.short
                if r.type_code != ALL_TYPES
                else any(
                    x.short
                    for x in report.forecast.rows
                    if x.site_id == r.site_id and x.week == r.week and x.type_code != ALL_TYPES
                ),
                "binding": r.binding,
                "room_places": r.room_places,
                "booked_in_person": r.booked_in_person,
                "in_person_expected": round(r.in_person_mean, 1),
                "in_person_high": round(r.in_person_high, 1),
                "strakstid_reserve": r.strakstid_reserve,
                "strakstid_needed": r.strakstid_needed,
            }
            for r in report.forecast.rows
        ],
        "advice": [
            {
                "site": a.site_id,
                "type": a.type_code,
                "week": a.week_label,
                "kind": a.kind,
                "missing": a.missing,
                "text": a.text,
            }
            for a in report.advice
        ],
        "behaviour": [
            {
                "site": site,
                "type": code,
                "observations": b.observations,
                "last_days_share": round(b.last_days_share, 3),
                "mean_lead_days": round(b.mean_lead(), 1),
                "cancel_rate": round(b.cancel_rate, 3),
                "late_cancel_share": round(b.late_cancel_share, 3),
                "rebook_rate": round(b.rebook_rate, 3),
                "miss_share": round(b.miss_share, 3),
                "in_person_share": round(b.in_person_share, 3),
            }
            for (site, code), b in sorted(report.behaviours.items())
        ],
    }


CSV_HEADER = (
    "uge", "matrikel", "samtaletype", "tider", "booket", "forventet", "lav", "hoej",
    "uden_tid", "mangler", "begraensning", "lokalepladser", "fremmoede_forventet",
    "strakstid_reserve", "strakstid_behov",
)  # fmt: skip


def to_csv(report: Report) -> str:
    """Semicolon-separated with a BOM, as the dashboard's other exports (Excel, Danish)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    limit = {"caseworkers": "sagsbehandlere", "rooms": "lokaler", None: ""}
    for r in report.forecast.rows:
        w.writerow(
            [
                week_text(r.week),
                report.site_names.get(r.site_id, r.site_id),
                report.type_titles.get(r.type_code, r.type_code) or "alle",
                r.offers,
                r.booked,
                f"{r.demand_mean:.0f}",
                f"{r.demand_low:.0f}",
                f"{r.demand_high:.0f}",
                f"{r.unmet_mean:.1f}".replace(".", ","),
                r.shortfall,
                limit[r.binding],
                "" if r.room_places is None else r.room_places,
                f"{r.in_person_mean:.0f}",
                r.strakstid_reserve,
                r.strakstid_needed,
            ]
        )
    return out.getvalue()
