"""The Kapacitet page: in Debian's Chromium (its charts, advice and type filter) and over HTTP
(its CSV). Waiting is Playwright's auto-waiting ``expect``, never sleeping."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect

from syncd.capacity.demand import DemandCount
from syncd.store.capacity import save_demand
from tests.support.jobcentre import at
from tests.web.conftest import PASSWORDS, sign_in
from tests.web.helpers import book, open_tuesday

PAGE = "/dashboard/capacity"
WAIT = 10_000  # ms


def with_demand(rt: Any, count: int = 60) -> None:
    """Three caseworkers with four times each on Tuesday 1 December; ``count`` citizens have
    their deadline that week."""
    open_tuesday(rt)
    book(rt, "mette", at(0, 9), citizen="citizen-secret-5")
    with rt.db.write() as s:
        save_demand(
            s,
            [DemandCount("lilleby", "jobsamtale", date(2026, 11, 30), date(2026, 12, 11), count)],
            source="test",
            now=rt.clock(),
        )


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="da-DK")
    ctx.set_default_timeout(WAIT)
    yield ctx
    ctx.close()


@pytest.mark.browser
def test_the_page_shows_weeks_that_fall_short_with_advice_and_charts(server, web_rt, context):
    with_demand(web_rt)
    page = context.new_page()
    page.goto(server + PAGE)
    page.get_by_label("Brugernavn").fill("anne")
    page.get_by_label("Adgangskode").fill(PASSWORDS["anne"])
    page.get_by_role("button", name="Log ind").click()
    expect(page).to_have_url(server + PAGE)
    expect(page.get_by_role("heading", name="Kapacitet", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Kapacitet")).to_have_attribute("aria-current", "page")

    advice = page.locator("#capacity-advice li.shortfall")
    expect(advice.first).to_contain_text(
        re.compile(r"uge 50, Jobcenter Lilleby, jobsamtale: ca\. \d+ tider for få ved 90 %-niveau")
    )
    times = page.locator("#capacity-times svg")
    expect(times).to_have_attribute("aria-label", "Tider mod forventede bookinger pr. uge")
    weeks = times.locator("g.week")
    expect(weeks).to_have_count(6)
    expect(weeks.nth(0)).to_have_attribute("data-week", "uge 48")
    short = times.locator("g.week.short")
    expect(short).to_have_count(1)
    expect(short).to_have_attribute("data-week", "uge 50")
    # Each week draws its offers, what is booked and the demand band with its mean.
    week49 = times.locator('g.week[data-week="uge 49"]')
    for part in ("rect.supply", "rect.booked", "rect.band", "line.mean"):
        expect(week49.locator(part)).to_have_count(1)
    expect(week49.locator("title")).to_contain_text("12 tider, 1 booket")
    booked_h = float(week49.locator("rect.booked").get_attribute("height"))
    supply_h = float(week49.locator("rect.supply").get_attribute("height"))
    assert 0 < booked_h < supply_h
    rooms = page.locator("#capacity-rooms svg g.week")
    expect(rooms).to_have_count(6)
    expect(page.locator("#capacity-table tbody tr.bad")).to_have_count(1)
    expect(page.locator("#capacity-behaviour")).to_contain_text("Jobsamtale")

    # Only jobsamtale: the select submits by itself.
    page.get_by_label("Samtaletype").select_option("jobsamtale")
    expect(page).to_have_url(re.compile(r"type=jobsamtale"))
    expect(page.locator("#capacity-times svg g.week.short")).to_have_count(1)
    page.get_by_label("Samtaletype").select_option("faellessamtale")
    expect(page).to_have_url(re.compile(r"type=faellessamtale"))
    expect(page.locator("#capacity-times svg g.week.short")).to_have_count(0)
    assert "citizen-secret-5" not in page.content()
    page.screenshot(path="/tmp/syncd-dashboard-capacity.png", full_page=True)


def test_csv_export_and_a_viewer_sees_the_page(server, web_rt):
    with_demand(web_rt)
    with sign_in(server, "bo") as client:
        r = client.get(PAGE)
        assert r.status_code == 200 and "tider for få" in r.text
        r = client.get("/dashboard/export/capacity.csv")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(r.text[1:]), delimiter=";"))
        assert rows[0][:4] == ["uge", "matrikel", "samtaletype", "tider"]
        short = [x for x in rows[1:] if x[2] == "Jobsamtale" and x[0] == "2026-W50"]
        assert short and int(short[0][9]) > 0
        assert "citizen-secret-5" not in r.text
        assert client.get(PAGE, params={"type": "ukendt"}).status_code == 400
        assert client.get(PAGE, params={"site": "andeby"}).status_code == 404
