"""The pages and the fragments the pages re-fetch when something changes.

Each page is a frame plus fragments; a fragment is rendered by the same template whether it is
part of the first page load or fetched again by the live script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from syncd.inputs import day_in_window
from syncd.store import stats
from syncd.web.charts import Item, bar_chart
from syncd.web.deps import Dashboard, Refused, SignedIn, User, dashboard, parse_day
from syncd.web.feeds import live_since
from syncd.web.format import number, percent, plural

router = APIRouter()
ATTENTION_DAYS = 14
TREND_WEEKS = 8


@dataclass(frozen=True)
class Place:
    """Where a span sits on the timeline, in percent of its width."""

    left: float
    width: float


def place(view: stats.SiteDay, start: datetime, end: datetime) -> Place:
    span = (view.end - view.start).total_seconds()
    a = max(start, view.start)
    b = min(end, view.end)
    left = (a - view.start).total_seconds() / span * 100
    width = max((b - a).total_seconds() / span * 100, 0.4)
    return Place(round(left, 3), round(width, 3))


# -- parameters ----------------------------------------------------------------------------


def _today(d: Dashboard) -> date:
    return d.rt.clock().astimezone(d.rt.zone).date()


def _site(d: Dashboard, site: str | None) -> str:
    sites = d.rt.index.directory.sites
    if not sites:
        raise Refused(404, "Der er ingen matrikler i konfigurationen")
    if site is None:
        return sites[0].id
    if site not in d.rt.index.sites:
        raise Refused(404, "Ukendt matrikel")
    return site


def _day(d: Dashboard, value: str | None) -> date:
    if not value:
        return _today(d)
    return parse_day(value)


def _week(d: Dashboard, value: str | None) -> tuple[int, int]:
    """ISO week as 2026-W49 (the value of an <input type=week>)."""
    if not value:
        return stats.iso_week(_today(d))
    try:
        year, week = value.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise Refused(400, "Ugyldig uge") from None
    if not day_in_window(monday):
        raise Refused(400, "Ugen skal ligge mellem år 2000 og 2099")
    return int(year), int(week)


def _shift_week(year: int, week: int, weeks: int) -> tuple[int, int]:
    return stats.iso_week(date.fromisocalendar(year, week, 1) + timedelta(weeks=weeks))


def _common(d: Dashboard, request: Request, user: User, site_id: str, page: str) -> dict[str, Any]:
    return {
        "live_since": live_since(d),
        "user": user,
        "page": page,
        "site_id": site_id,
        "sites": d.rt.index.directory.sites,
        "site_name": d.rt.index.sites[site_id].name,
        "today": _today(d),
    }


# -- I dag -------------------------------------------------------------------------------------


def today_context(d: Dashboard, site_id: str, day: date) -> dict[str, Any]:
    zone = d.rt.zone
    lo, hi = stats.day_bounds(day, zone)
    with d.rt.db.read() as s:
        view = stats.site_day(s, d.rt.index, site_id, day, zone, d.hours)
        attention = stats.needs_attention(
            s, d.rt.index, site_id, lo, lo + timedelta(days=ATTENTION_DAYS)
        )
        blocks = stats.blocks(
            s, d.rt.index, site_id, max(lo, d.rt.clock()), lo + timedelta(days=60)
        )
        audit = stats.recent_audit(s, d.rt.index, limit=12)
    conversations = [c for r in view.rooms for c in r.conversations]
    now = d.rt.clock()
    todays_attention = [c for c in attention if lo <= c.start < hi]
    return {
        "view": view,
        "day": day,
        "place": lambda a, b: place(view, a, b),
        "merged_blocks": merged_blocks,
        "now_place": place(view, now, now) if view.start <= now < view.end else None,
        "attention": attention,
        "blocks": blocks,
        "audit": audit,
        "rooms": d.rt.index.rooms_by_site.get(site_id, []),
        "summary": {
            "with_room": sum(1 for c in conversations if c.status == "confirmed"),
            "held": sum(1 for c in conversations if c.status == "held"),
            # A conversation without a room is counted there only, not again as a conflict.
            "without_room": sum(1 for c in todays_attention if _roomless(c)),
            "conflicts": sum(1 for c in todays_attention if c.conflict and not _roomless(c)),
            "pinned": sum(1 for c in conversations if c.pinned),
        },
        "room_feeds": {r.room_id: d.feed_token("room", r.room_id) for r in view.rooms},
        "site_feed": d.feed_token("site", site_id),
    }


def _roomless(c: stats.Conversation) -> bool:
    return c.room_id is None and c.mode == "in_person"


@dataclass(frozen=True)
class BlockSpan:
    """Overlapping blocks of one room drawn as one span that keeps every reason."""

    start: datetime
    end: datetime
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return "; ".join(self.reasons)


def merged_blocks(blocks: list[stats.Block]) -> list[BlockSpan]:
    spans: list[BlockSpan] = []
    for b in sorted(blocks, key=lambda b: (b.start, b.end)):
        if spans and b.start < spans[-1].end:
            last = spans[-1]
            reasons = last.reasons + ((b.reason,) if b.reason not in last.reasons else ())
            spans[-1] = BlockSpan(last.start, max(last.end, b.end), reasons)
        else:
            spans.append(BlockSpan(b.start, b.end, (b.reason,)))
    return spans


@router.get("/today", response_class=HTMLResponse)
def today(
    request: Request, site: str | None = None, day: str | None = None, user: User = SignedIn
) -> Response:
    d = dashboard(request)
    site_id, chosen = _site(d, site), _day(d, day)
    ctx = _common(d, request, user, site_id, "today") | today_context(d, site_id, chosen)
    ctx["query"] = f"site={site_id}&day={chosen.isoformat()}"
    ctx["prev_day"] = (chosen - timedelta(days=1)).isoformat()
    ctx["next_day"] = (chosen + timedelta(days=1)).isoformat()
    return d.render(request, "today.html", **ctx)


TODAY_FRAGMENTS = {
    "timeline": "fragment_timeline.html",
    "attention": "fragment_attention.html",
    "blocks": "fragment_blocks.html",
    "audit": "fragment_audit.html",
}


# -- Belægning -------------------------------------------------------------------------------


def utilisation_context(d: Dashboard, site_id: str, year: int, week: int) -> dict[str, Any]:
    days = stats.week_days(year, week)
    first = date.fromisocalendar(*_shift_week(year, week, -(TREND_WEEKS - 1)), 1)
    with d.rt.db.read() as s:
        report = stats.utilisation(
            s, d.rt.index, site_id, days[0], days[-1], d.rt.zone, d.hours, d.rt.closing_days
        )
        trend = stats.utilisation(
            s, d.rt.index, site_id, first, days[-1], d.rt.zone, d.hours, d.rt.closing_days
        ).weeks
    fmt = d.formats
    workdays = [u for u in report.days if u.day.weekday() < 5]
    peak_chart = bar_chart(
        [
            Item(
                fmt.short_day(u.day), u.peak, str(u.peak),
                f"{fmt.long_day(u.day)}: højst {plural(u.peak, 'samtale', 'samtaler')} ad gangen"
                + (f" kl. {fmt.hm(u.peak_at)}" if u.peak_at else ""),
                ref=u.rooms_available, ref_title=f"{u.rooms_available} lokaler ledige",
                css="over" if u.peak > u.rooms_available else "",
            )
            for u in workdays
        ],
        title="Spidsbelastning pr. dag: samtaler ad gangen mod ledige lokaler",
        tick_format="{:.0f}",
    )  # fmt: skip
    trend_chart = bar_chart(
        [
            Item(
                f"uge {w.week}", (w.share or 0) * 100, percent(w.share),
                f"Uge {w.week}: {number(w.booked_hours)} af {number(w.capacity_hours)} timer",
                css="current" if (w.year, w.week) == (year, week) else "",
            )
            for w in trend
        ],
        title="Belægning pr. uge",
        top_value=100,
        tick_format="{:.0f} %",
    )  # fmt: skip
    best = max((r.share or 0 for r in report.rooms), default=0)
    return {
        "year": year,
        "week": week,
        "hours": d.hours,
        "report": report,
        "workdays": workdays,
        "week_total": report.weeks[0] if report.weeks else None,
        "peak_chart": peak_chart,
        "trend_chart": trend_chart,
        "room_scale": max(best, 0.0001),
        "heat": lambda hours: min(hours / (d.hours[1] - d.hours[0]), 1.0),
    }


@router.get("/utilisation", response_class=HTMLResponse)
def utilisation(
    request: Request, site: str | None = None, week: str | None = None, user: User = SignedIn
) -> Response:
    d = dashboard(request)
    site_id = _site(d, site)
    year, number_ = _week(d, week)
    ctx = _common(d, request, user, site_id, "utilisation")
    ctx |= utilisation_context(d, site_id, year, number_)
    ctx |= _week_nav(site_id, year, number_)
    return d.render(request, "utilisation.html", **ctx)


def _week_nav(site_id: str, year: int, week: int) -> dict[str, Any]:
    days = stats.week_days(year, week)
    return {
        "query": f"site={site_id}&week={stats.week_label(year, week)}",
        "week_value": stats.week_label(year, week),
        "prev_week": stats.week_label(*_shift_week(year, week, -1)),
        "next_week": stats.week_label(*_shift_week(year, week, 1)),
        "export_range": f"site={site_id}&start={days[0].isoformat()}&end={days[-1].isoformat()}",
    }


# -- Selvbooking -----------------------------------------------------------------------------


def self_booking_context(d: Dashboard, site_id: str, year: int, week: int) -> dict[str, Any]:
    first = date.fromisocalendar(*_shift_week(year, week, -(TREND_WEEKS - 1)), 1)
    last = stats.week_days(year, week)[-1]
    with d.rt.db.read() as s:
        report = stats.self_booking(s, d.rt.index, first, last, d.rt.zone, site_id)
    this_week = [f for f in report.caseworkers if (f.year, f.week) == (year, week)]
    teams_this_week = {f.key: f for f in report.teams if (f.year, f.week) == (year, week)}
    by_team: dict[str, list[stats.BookingFigures]] = {}
    for f in this_week:
        by_team.setdefault(f.team or stats.NO_TEAM, []).append(f)
    weekly: dict[tuple[int, int], stats.BookingFigures] = {}
    for f in report.teams:
        total = weekly.setdefault(
            (f.year, f.week), stats.BookingFigures("alle", "Alle", None, f.year, f.week)
        )
        total.add(f)
    trend = [
        weekly.get(w) or stats.BookingFigures("alle", "Alle", None, *w)
        for w in report.weeks[-TREND_WEEKS:]
    ]
    chart = bar_chart(
        [
            Item(
                f"uge {f.week}", (f.share_self_booked or 0) * 100, percent(f.share_self_booked),
                f"Uge {f.week}: {f.self_booked} af {plural(f.booked, 'samtale', 'samtaler')} selvbooket",
                css="current" if (f.year, f.week) == (year, week) else "",
            )
            for f in trend
        ],
        title="Andel selvbookede samtaler pr. uge",
        top_value=100,
        tick_format="{:.0f} %",
    )  # fmt: skip
    return {
        "year": year,
        "week": week,
        "teams": sorted(by_team.items()),
        "team_totals": teams_this_week,
        "week_total": weekly.get((year, week)),
        "chart": chart,
    }


@router.get("/self-booking", response_class=HTMLResponse)
def self_booking(
    request: Request, site: str | None = None, week: str | None = None, user: User = SignedIn
) -> Response:
    d = dashboard(request)
    site_id = _site(d, site)
    year, number_ = _week(d, week)
    empty_week = None
    if week is None:  # opened without a week: the nearest one with bookings, and say so
        with d.rt.db.read() as s:
            nearest = stats.nearest_booked_week(s, d.rt.index, site_id, _today(d), d.rt.zone)
        if nearest is not None and nearest != (year, number_):
            empty_week, (year, number_) = number_, nearest
    ctx = _common(d, request, user, site_id, "self_booking")
    ctx |= self_booking_context(d, site_id, year, number_) | {"empty_week": empty_week}
    ctx |= _week_nav(site_id, year, number_)
    return d.render(request, "self_booking.html", **ctx)


# -- Driftsstatus ----------------------------------------------------------------------------


def operations_context(d: Dashboard) -> dict[str, Any]:
    with d.rt.db.read() as s:
        trouble = stats.failing(s, d.rt.index)  # the same query as syncd status and /status
    return {
        "failures": trouble.outbox,
        "quarantined": trouble.quarantined,
        "calendars": trouble.calendars,
    }


@router.get("/operations", response_class=HTMLResponse)
def operations(request: Request, site: str | None = None, user: User = SignedIn) -> Response:
    d = dashboard(request)
    site_id = _site(d, site)
    ctx = _common(d, request, user, site_id, "operations") | operations_context(d)
    ctx["query"] = f"site={site_id}"
    return d.render(request, "operations.html", **ctx)


# -- fragments -------------------------------------------------------------------------------


@router.get("/fragments/{name}", response_class=HTMLResponse)
def fragment(
    request: Request,
    name: str,
    site: str | None = None,
    day: str | None = None,
    week: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id = _site(d, site)
    ctx = _common(d, request, user, site_id, name)
    if name in TODAY_FRAGMENTS:
        ctx |= today_context(d, site_id, _day(d, day))
        template = TODAY_FRAGMENTS[name]
    elif name == "utilisation":
        ctx |= utilisation_context(d, site_id, *_week(d, week)) | _week_nav(
            site_id, *_week(d, week)
        )
        template = "fragment_utilisation.html"
    elif name == "self-booking":
        ctx |= self_booking_context(d, site_id, *_week(d, week)) | _week_nav(
            site_id, *_week(d, week)
        )
        template = "fragment_self_booking.html"
    elif name == "operations":
        ctx |= operations_context(d)
        template = "fragment_operations.html"
    else:
        raise Refused(404, "Ukendt visning")
    return d.render(request, template, **ctx)
