"""Planlægning: a site's rooms by day, week or month, with search and filters, and drag and
drop onto another room (the same move, checks and audit as the conversation dialog)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from syncd.domain.model import Mode
from syncd.store import planning, stats
from syncd.web.deps import Dashboard, Refused, SignedIn, User, dashboard, parse_day
from syncd.web.feeds import live_since
from syncd.web.format import FEATURES, MODES, MONTHS

router = APIRouter()
VIEWS = {"day": "Dag", "week": "Uge", "month": "Måned"}


def _filters(d: Dashboard, params: dict[str, str]) -> planning.Filters:
    index = d.rt.index
    f = planning.Filters(
        q=params.get("q", "").strip()[:100],
        team=params.get("team", ""),
        type_code=params.get("type", ""),
        feature=params.get("feature", ""),
        mode=params.get("mode", ""),
        room=params.get("room", ""),
    )
    if f.type_code and f.type_code not in index.types:
        raise Refused(400, "Ukendt samtaletype")
    if f.mode and f.mode not in {m.value for m in Mode}:
        raise Refused(400, "Ukendt samtaleform")
    if f.room and f.room not in index.rooms:
        raise Refused(404, "Ukendt lokale")
    return f


def _days(view: str, day: date) -> list[date]:
    if view == "day":
        return [day]
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return [monday + timedelta(days=i) for i in range(7)]
    return planning.month_days(day)


def _title(d: Dashboard, view: str, day: date, days: list[date]) -> str:
    f = d.formats
    if view == "day":
        return f.long_day(day).capitalize()
    if view == "week":
        year, week = stats.iso_week(day)
        return f"Uge {week} {year} · {f.short_day(days[0])}–{f.short_day(days[-1])}"
    return f"{MONTHS[day.month - 1].capitalize()} {day.year}"


def _step(view: str, day: date, n: int) -> date:
    if view == "day":
        return day + timedelta(days=n)
    if view == "week":
        return day + timedelta(weeks=n)
    month = day.month - 1 + n
    return date(day.year + month // 12, month % 12 + 1, 1)


def plan_context(
    d: Dashboard, site_id: str, view: str, day: date, params: dict[str, str]
) -> dict[str, Any]:
    if view not in VIEWS:
        raise Refused(400, "Ukendt visning")
    filters = _filters(d, params)
    days = _days(view, day)
    with d.rt.db.read() as s:
        found = planning.grid(s, d.rt.index, site_id, days, d.rt.zone, filters)
    # Weekends only when something happens on them.
    if view == "week":
        shown = [x for x in days if x.weekday() < 5 or found.count(x)]
        found.days = shown
    index = d.rt.index
    rooms = sorted(index.rooms_by_site.get(site_id, []), key=lambda r: planning.natural_key(r.name))
    caseworkers = [c for c in index.directory.caseworkers if c.site_id == site_id]
    keep = {k: v for k, v in params.items() if v and k in ("q", "team", "type", "feature", "mode")}
    if filters.room:
        keep["room"] = filters.room
    return {
        "grid": found,
        "view": view,
        "views": VIEWS,
        "day": day,
        "title": _title(d, view, day, days),
        "filters": filters,
        "teams": sorted({c.team for c in caseworkers if c.team}),
        "types": sorted(index.directory.conversation_types, key=lambda t: t.title),
        "features": sorted({f for r in rooms for f in r.features}),
        "feature_names": FEATURES,
        "modes": MODES,
        "rooms": rooms,
        "room_name": index.rooms[filters.room].name if filters.room else "",
        "month": day.month,
        "prev": _step(view, day, -1).isoformat(),
        "next": _step(view, day, 1).isoformat(),
        "keep": urlencode(keep),
        "query": urlencode({"site": site_id, "view": view, "day": day.isoformat()} | keep),
    }


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if isinstance(v, str)}


def _day(d: Dashboard, value: str | None) -> date:
    if not value:
        return d.rt.clock().astimezone(d.rt.zone).date()
    return parse_day(value)


def _site(d: Dashboard, site: str | None) -> str:
    sites = d.rt.index.directory.sites
    if not sites:
        raise Refused(404, "Der er ingen matrikler i konfigurationen")
    if site is None:
        return sites[0].id
    if site not in d.rt.index.sites:
        raise Refused(404, "Ukendt matrikel")
    return site


@router.get("/plan", response_class=HTMLResponse)
def plan(
    request: Request,
    site: str | None = None,
    view: str = "week",
    day: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id, chosen = _site(d, site), _day(d, day)
    ctx = plan_context(d, site_id, view, chosen, _params(request))
    ctx |= {
        "live_since": live_since(d),
        "user": user,
        "page": "plan",
        "site_id": site_id,
        "sites": d.rt.index.directory.sites,
        "site_name": d.rt.index.sites[site_id].name,
        "today": d.rt.clock().astimezone(d.rt.zone).date(),
    }
    return d.render(request, "plan.html", **ctx)


@router.get("/fragments/plan", response_class=HTMLResponse)
def plan_fragment(
    request: Request,
    site: str | None = None,
    view: str = "week",
    day: str | None = None,
    user: User = SignedIn,
) -> Response:
    d = dashboard(request)
    site_id, chosen = _site(d, site), _day(d, day)
    ctx = plan_context(d, site_id, view, chosen, _params(request))
    ctx |= {"user": user, "site_id": site_id, "today": d.rt.clock().astimezone(d.rt.zone).date()}
    return d.render(request, "fragment_plan.html", **ctx)
