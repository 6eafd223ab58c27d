"""The coordinator's planning views in Debian's Chromium: the week grid, search, filters, drag
and drop onto another room, the preview of a block that leaves conversations without a room,
and the phone layout. With SYNCD_SCREENSHOTS=1 the screenshots go to docs/screenshots/ (the
README shows them); otherwise to a temporary folder, so a test run leaves the tree alone."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.jobcentre import at
from tests.web.conftest import PASSWORDS
from tests.web.helpers import book, coordination, open_tuesday, room_of

pytestmark = pytest.mark.browser
WEEK = "/dashboard/plan?view=week&day=2026-12-01"
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SYNCD_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "syncd-screenshots"
)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="da-DK")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def sign_in(page: Any, base: str, path: str, name: str = "anne") -> None:
    page.goto(base + path)
    page.get_by_label("Brugernavn").fill(name)
    page.get_by_label("Adgangskode").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log ind").click()
    expect(page).to_have_url(base + path)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "on")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def cell(page: Any, room: str, day: str) -> Any:
    return page.locator(f'#plan tr[data-room="{room}"] td[data-day="{day}"]')


def test_week_grid_search_and_filters(server, web_rt, context):
    open_tuesday(web_rt)
    mette = book(web_rt, "mette", at(0, 9))
    lars = book(web_rt, "lars", at(0, 9))
    pia = book(web_rt, "pia", at(0, 9, 40))
    page = context.new_page()
    sign_in(page, server, WEEK)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Uge 49 2026")
    # Rooms by days, naturally sorted; the three conversations in their rooms on Tuesday.
    heads = page.locator("#plan tbody th").all_inner_texts()
    assert [h.split("\n")[0] for h in heads] == [
        "Mødelokale L1", "Mødelokale L2", "Mødelokale L9", "Uden lokale",
    ]  # fmt: skip
    for talk in (mette, lars, pia):
        expect(cell(page, talk.room_id, "2026-12-01")).to_contain_text(talk.reference)
    expect(page.locator("#plan thead th")).to_have_count(6)  # rooms + Monday..Friday
    shot(page, "plan-week")

    # Search by booking reference, then by caseworker, then by room.
    search = page.get_by_role("searchbox")
    search.fill(lars.reference)
    page.get_by_role("button", name="Søg").click()
    expect(page.locator("#plan .chip")).to_have_count(1)
    expect(page.locator("#plan .chip")).to_contain_text("Lars Jensen")
    page.get_by_role("searchbox").fill("pia olsen")
    page.get_by_role("button", name="Søg").click()
    expect(page.locator("#plan .chip")).to_have_count(1)
    expect(page.locator("#plan .chip")).to_contain_text(pia.reference)
    page.get_by_role("searchbox").fill(mette.room_id)
    page.get_by_role("button", name="Søg").click()
    expect(page.locator("#plan .chip", has_text=mette.reference)).to_be_visible()
    expect(page.locator("#plan .chip", has_text=lars.reference)).to_have_count(0)
    page.get_by_role("link", name="Nulstil").click()
    expect(page.locator("#plan .chip")).to_have_count(3)

    # Filter by team (select submits at once), then by room feature.
    page.get_by_label("Team").select_option("Sygedagpenge")
    expect(page.locator("#plan .chip")).to_have_count(1)
    expect(page.locator("#plan .chip")).to_contain_text("Pia Olsen")
    expect(page).to_have_url(re.compile(r"team=Sygedagpenge"))
    page.get_by_role("link", name="Nulstil").click()
    page.get_by_label("Lokaleudstyr").select_option("wheelchair")
    expect(page.locator("#plan tbody tr")).to_have_count(1)  # L9 only
    expect(page.locator("#plan tbody th")).to_contain_text("Mødelokale L9")
    page.get_by_role("link", name="Nulstil").click()
    page.get_by_label("Form").select_option("phone")
    expect(page.locator("#plan .chip")).to_have_count(0)
    expect(page.locator("#plan")).to_contain_text("Ingen samtaler passer til søgningen")
    shot(page, "plan-filters")

    # The month and the single room's view.
    page.get_by_role("link", name="Nulstil").click()
    page.get_by_role("link", name="Måned").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("December 2026")
    expect(page.locator('.month-day[data-day="2026-12-01"]')).to_contain_text("3 samtaler")
    shot(page, "plan-month")
    page.get_by_role("link", name="Uge").click()
    page.locator("#plan tbody th a", has_text="Mødelokale L9").click()
    expect(page.locator("#plan tbody tr")).to_have_count(1)
    expect(page.locator(".toolbar .muted")).to_contain_text("Mødelokale L9")


def test_drag_a_conversation_to_another_room(server, web_rt, context):
    open_tuesday(web_rt, "mette")
    talk = book(web_rt, "mette", at(0, 9))
    target = next(r for r in ("L1", "L2", "L9") if r != talk.room_id)
    page = context.new_page()
    sign_in(page, server, WEEK)
    chip = cell(page, talk.room_id, "2026-12-01").locator(f'[data-booking="{talk.id}"]')
    chip.drag_to(cell(page, target, "2026-12-01"))
    expect(page.locator("#toast")).to_contain_text(f"{talk.reference} er flyttet til")
    expect(cell(page, target, "2026-12-01")).to_contain_text(talk.reference)
    assert room_of(web_rt, talk.id) == target
    # Audited like the dialog's move, under the coordinator's name.
    page.goto(server + "/dashboard/today?day=2026-12-01")
    expect(page.locator("#audit")).to_contain_text("anne")
    expect(page.locator("#audit")).to_contain_text(talk.reference)

    # Another day is another time: with no free time there, nothing changes and it says why.
    page.goto(server + WEEK)
    chip = cell(page, target, "2026-12-01").locator(f'[data-booking="{talk.id}"]')
    chip.drag_to(cell(page, talk.room_id, "2026-12-02"))
    expect(page.locator("#toast")).to_contain_text("har ingen ledig tid omkring 2/12 09:00")
    assert room_of(web_rt, talk.id) == target

    # And on the day's timeline, onto another room's row at the same time.
    page.goto(server + "/dashboard/today?day=2026-12-01")
    block = page.locator(f'.tl-conv[data-booking="{talk.id}"]')
    track = page.locator(f'.tl-row[data-room="{talk.room_id}"] .tl-track')
    x = block.bounding_box()["x"] - track.bounding_box()["x"]
    block.drag_to(track, source_position={"x": 2, "y": 5}, target_position={"x": x + 2, "y": 10})
    expect(page.locator(f'.tl-row[data-room="{talk.room_id}"] .tl-conv')).to_be_visible()
    assert room_of(web_rt, talk.id) == talk.room_id


def test_drag_a_conversation_to_another_time(server, web_rt, context):
    from tests.store.helpers import publish

    publish(web_rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talk = book(web_rt, "mette", at(0, 9))
    page = context.new_page()
    sign_in(page, server, "/dashboard/today?day=2026-12-01")
    # Along the timeline to about 10:20: the caseworker's free time there.
    block = page.locator(f'.tl-conv[data-booking="{talk.id}"]')
    track = page.locator(f'.tl-row[data-room="{talk.room_id}"] .tl-track')
    box = track.bounding_box()
    start, end = (track.get_attribute("data-from")[11:16], track.get_attribute("data-to")[11:16])
    span = (int(end[:2]) - int(start[:2])) * 60
    x = box["width"] * ((10 - int(start[:2])) * 60 + 20) / span
    block.drag_to(track, source_position={"x": 1, "y": 5}, target_position={"x": x + 1, "y": 10})
    expect(page.locator("#toast")).to_contain_text(
        f"{talk.reference} er flyttet til tirsdag 1. december 2026 kl. 10:20"
    )
    assert web_rt.bookings.get(talk.id).start == at(0, 10, 20)
    # In the week, onto Wednesday: the same time of day there.
    page.goto(server + WEEK)
    chip = page.locator(f'#plan .chip[data-booking="{talk.id}"]')
    room = web_rt.bookings.get(talk.id).room_id
    chip.drag_to(cell(page, room, "2026-12-02"))
    expect(page.locator("#toast")).to_contain_text("onsdag 2. december 2026 kl. 10:20")
    assert web_rt.bookings.get(talk.id).start == at(1, 10, 20)
    expect(
        page.locator(f'#plan td[data-day="2026-12-02"] .chip[data-booking="{talk.id}"]')
    ).to_be_visible()


def test_drag_to_another_room_on_another_day_moves_it_there(server, web_rt, context):
    from tests.store.helpers import publish

    publish(web_rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talk = book(web_rt, "mette", at(0, 9))
    page = context.new_page()
    sign_in(page, server, WEEK)
    for target in (r for r in ("L9", "L2", "L1") if r != talk.room_id):
        chip = page.locator(f'#plan .chip[data-booking="{talk.id}"]')
        day = "2026-12-02" if web_rt.bookings.get(talk.id).start == at(0, 9) else "2026-12-01"
        chip.drag_to(cell(page, target, day))
        expect(cell(page, target, day).locator(f'.chip[data-booking="{talk.id}"]')).to_be_visible()
        assert room_of(web_rt, talk.id) == target
    # Dropped on a room that is blocked at the new time: refused, nothing moves.
    view = web_rt.bookings.get(talk.id)
    day = "2026-12-02" if view.start == at(0, 9) else "2026-12-01"
    blocked = next(r for r in ("L1", "L2") if r != view.room_id)
    offset = 1 if day == "2026-12-02" else 0
    coordination(web_rt).block_room(
        blocked, at(offset, 8), at(offset, 12), actor="t", reason="maling"
    )
    page.reload()
    page.locator(f'#plan .chip[data-booking="{talk.id}"]').drag_to(cell(page, blocked, day))
    expect(page.locator("#toast")).to_contain_text("samtalen er ikke flyttet")
    assert web_rt.bookings.get(talk.id).start == view.start
    assert room_of(web_rt, talk.id) == view.room_id


def test_block_preview_names_what_is_left_without_a_room(server, web_rt, context):
    open_tuesday(web_rt)
    talks = [book(web_rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")]
    victim = next(t for t in talks if t.room_id == "L9")
    page = context.new_page()
    sign_in(page, server, "/dashboard/today?day=2026-12-01")
    form = page.locator("#block-form")
    form.get_by_label("Lokale").select_option("L9")
    form.get_by_label("Fra").fill("2026-12-01T08:00")
    form.get_by_label("Til").fill("2026-12-01T12:00")
    form.get_by_label("Begrundelse").fill("Vandskade")
    form.get_by_label("Gentag").select_option("workdays")
    form.get_by_label("Sidste dag").fill("2026-12-04")
    form.get_by_role("button", name="Bloker lokale").click()
    preview = page.locator("#block-preview")
    expect(preview).to_contain_text("blokeres 4 gange: 0 samtaler flyttes, 1 står uden lokale")
    expect(preview.locator('[data-list="lost"]')).to_contain_text(victim.reference)
    shot(page, "block-preview")
    preview.get_by_role("button", name="Annullér").click()
    assert room_of(web_rt, victim.id) == "L9"  # a preview changes nothing

    form.get_by_role("button", name="Bloker lokale").click()
    preview.get_by_role("button", name="Bloker", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("blokeret 4 gange")
    chips = page.locator("#timeline .chips")
    expect(chips).to_contain_text("1 uden lokale")
    expect(chips).to_contain_text("0 konflikter")  # the roomless one is not counted twice
    expect(page.locator("#blocks li")).to_have_count(4)

    # A second, overlapping block keeps both reasons on the timeline.
    coordination(web_rt).block_room(
        "L9", at(0, 10), at(0, 14), actor="dashboard:anne", reason="Maler"
    )
    expect(page.locator('.tl-row[data-room="L9"] .tl-blocked')).to_contain_text("Vandskade; Maler")
    shot(page, "today")


def test_phone_layout_fits_360_px(server, web_rt, browser):
    open_tuesday(web_rt)
    for cw in ("mette", "lars", "pia"):
        book(web_rt, cw, at(0, 9))
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="da-DK")
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        for path in (
            "/dashboard/today?day=2026-12-01",
            WEEK,
            "/dashboard/plan?view=month&day=2026-12-01",
            "/dashboard/utilisation?week=2026-W49",
            "/dashboard/self-booking?week=2026-W49",
            "/dashboard/operations",
        ):
            if path.startswith("/dashboard/today"):
                sign_in(page, server, path)
            else:
                page.goto(server + path)
            expect(page.locator("main")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width} px wide"
            if path == WEEK:
                shot(page, "plan-phone")
        # The favicon is served.
        icon = page.locator('link[rel="icon"]').get_attribute("href")
        assert page.request.get(server + icon).status == 200
    finally:
        ctx.close()


def test_print_stylesheet_hides_controls(server, web_rt, context):
    open_tuesday(web_rt, "mette")
    book(web_rt, "mette", at(0, 9))
    page = context.new_page()
    sign_in(page, server, WEEK)
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#plan-filters")).to_be_hidden()
    expect(page.locator("#plan .chip")).to_be_visible()
