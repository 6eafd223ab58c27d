"""Kapacitet: will every citizen get a time before the deadline? Per week the offers against
the simulated demand band and what is booked so far, the same for rooms, the advice, and the
behaviour learned from the history. Counts only: nothing here names a citizen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from syncd.capacity.forecast import ALL_TYPES, CASEWORKERS, ROOMS, WeekForecast
from syncd.capacity_report import Report, reports_of, to_csv
from syncd.web.charts import BandItem, band_chart
from syncd.web.deps import Dashboard, Refused, SignedIn, User, dashboard
from syncd.web.feeds import live_since

router = APIRouter()
BINDING = {CASEWORKERS: "sagsbehandlernes tider", ROOMS: "lokalerne", None: ""}


def _site(d: Dashboard, site: str | None) -> str:
    sites = d.rt.index.directory.sites
    if not sites:
        raise Refused(404, "Der er ingen matrikler i konfigurationen")
    if site is None:
        return sites[0].id
    if site not in d.rt.index.sites:
        raise Refused(404, "Ukendt matrikel")
    return site


def _type(d: Dashboard, value: str | None) -> str:
    if not value:
        return ALL_TYPES
    if value not in d.rt.index.types:
        raise Refused(400, "Ukendt samtaletype")
    return value


def _week(r: WeekForecast) -> str:
    return f"uge {r.week.isocalendar().week}"


def capacity_context(d: Dashboard, report: Report, site_id: str, type_code: str) -> dict[str, Any]:
    rows = report.forecast.of(site_id, type_code)
    per_type = [r for r in report.forecast.rows if r.site_id == site_id and r.type_code]
    short_weeks = {r.week for r in per_type if r.short}
    times = band_chart(
        [
            BandItem(
                _week(r), r.offers, r.booked, r.demand_low, r.demand_mean, r.demand_high,
                f"{_week(r).capitalize()}: {r.offers} tider, {r.booked} booket, forventet "
                f"{r.demand_mean:.0f} bookinger ({r.demand_low:.0f}–{r.demand_high:.0f})"
                + (f"; ca. {r.shortfall} borgere uden tid" if r.shortfall else ""),
                css="short" if r.week in short_weeks and (type_code == ALL_TYPES or r.short)
                else "",
            )
            for r in rows
        ],
        title="Tider mod forventede bookinger pr. uge",
        legend=("tider", "booket indtil nu", "forventet (10–90 %)"),
    )  # fmt: skip
    rooms = band_chart(
        [
            BandItem(
                _week(r), r.room_places or 0, r.booked_in_person,
                r.in_person_mean - (r.in_person_high - r.in_person_mean), r.in_person_mean,
                r.in_person_high,
                f"{_week(r).capitalize()}: {r.room_places or 0} ledige lokalepladser, "
                f"{r.booked_in_person} fremmøder booket, forventet {r.in_person_mean:.0f} "
                f"(op til {r.in_person_high:.0f})",
                css="short" if r.room_shortfall else "",
            )
            for r in rows
        ],
        title="Lokalepladser mod forventede fremmøder pr. uge",
        legend=("ledige pladser", "fremmøder booket", "forventet fremmøde"),
    )  # fmt: skip
    advice = [a for a in report.advice if a.site_id == site_id]
    if type_code != ALL_TYPES:
        advice = [a for a in advice if a.type_code == type_code]
    behaviour = [
        (report.type_titles.get(code, code), b)
        for (site, code), b in sorted(report.behaviours.items())
        if site == site_id
    ]
    return {
        "rows": rows,
        "times_chart": times,
        "rooms_chart": rooms,
        "advice": advice,
        "behaviour": behaviour,
        "type_code": type_code,
        "types": sorted(d.rt.index.directory.conversation_types, key=lambda t: t.title),
        "binding_names": BINDING,
        "demand_total": sum(x.count for x in report.demand if x.site_id == site_id),
        "level": round(100 * (rows[0].level if rows else 0.9)),
        "built_at": report.built_at,
        "short_weeks": short_weeks,
    }


@router.get("/capacity", response_class=HTMLResponse)
def capacity(
    request: Request, site: str | None = None, type: str | None = None, user: User = SignedIn
) -> Response:
    d = dashboard(request)
    site_id, type_code = _site(d, site), _type(d, type)
    report = reports_of(d.rt).current()
    ctx = capacity_context(d, report, site_id, type_code)
    ctx |= {
        "live_since": live_since(d),
        "user": user,
        "page": "capacity",
        "site_id": site_id,
        "sites": d.rt.index.directory.sites,
        "site_name": d.rt.index.sites[site_id].name,
        "today": report.today,
    }
    return d.render(request, "capacity.html", **ctx)


@router.get("/export/capacity.csv")
def export_capacity(request: Request, user: User = SignedIn) -> Response:
    d = dashboard(request)
    report = reports_of(d.rt).current()
    return Response(
        to_csv(report).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="kapacitet_{report.today}.csv"',
            "Cache-Control": "no-store",
        },
    )
