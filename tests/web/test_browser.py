"""The dashboard in Debian's Chromium (Playwright): sign in, watch a booking appear live, pin a
conversation, block a room and watch the conversation move, and a viewer who cannot change a
thing. Waiting is Playwright's auto-waiting ``expect`` with timeouts, never sleeping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.jobcentre import at
from tests.web.conftest import PASSWORDS
from tests.web.helpers import book, coordination, open_tuesday, pinned, room_of

pytestmark = pytest.mark.browser
TODAY = "/dashboard/today?day=2026-12-01"
WAIT = 10_000  # ms


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="da-DK")
    ctx.set_default_timeout(WAIT)
    yield ctx
    ctx.close()


def sign_in(page: Any, base: str, name: str) -> None:
    page.goto(base + TODAY)
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    page.get_by_label("Brugernavn").fill(name)
    page.get_by_label("Adgangskode").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log ind").click()
    expect(page).to_have_url(base + TODAY)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "on")


def conversation(page: Any, booking_id: str, room: str | None = None) -> Any:
    row = f'.tl-row[data-room="{room}"] ' if room else ""
    return page.locator(f'{row}.tl-conv[data-booking="{booking_id}"]')


def test_sign_in_and_a_new_booking_appears_without_reload(server, web_rt, context):
    open_tuesday(web_rt, "mette")
    page = context.new_page()
    sign_in(page, server, "anne")
    expect(page.get_by_role("heading", name="Tirsdag 1. december 2026")).to_be_visible()
    expect(page.locator(".user-name")).to_have_text("Anne Koordinator")
    page.evaluate("window.__notReloaded = true")

    talk = book(web_rt, "mette", at(0, 9), citizen="citizen-secret-77")
    block = conversation(page, talk.id, talk.room_id)
    expect(block).to_be_visible()
    expect(block).to_contain_text("Mette Hansen")
    expect(block).to_contain_text(talk.reference)
    expect(page.locator("#timeline .chips")).to_contain_text("1 samtale med lokale")
    expect(page.locator("#audit")).to_contain_text("bookede")
    assert page.evaluate("window.__notReloaded") is True
    assert "citizen-secret-77" not in page.content()
    page.screenshot(path="/tmp/syncd-dashboard-today.png", full_page=True)


def test_pin_a_conversation_from_its_dialog(server, web_rt, context):
    open_tuesday(web_rt, "mette", "lars")
    talk = book(web_rt, "mette", at(0, 9))
    other = book(web_rt, "lars", at(0, 9))
    page = context.new_page()
    sign_in(page, server, "anne")
    conversation(page, talk.id).click()
    dialog = page.locator("#conversation-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-field="reference"]')).to_have_text(talk.reference)
    expect(dialog.locator('[data-field="caseworker"]')).to_have_text("Mette Hansen")
    # Pin her into Lars's room: his conversation makes way.
    dialog.get_by_label("Lokale").select_option(other.room_id)
    dialog.get_by_label("Begrundelse").fill("borgeren bruger rollator")
    dialog.get_by_role("button", name="Lås her").click()
    expect(page.locator("#toast")).to_contain_text(
        f"{talk.reference} er låst til Mødelokale {other.room_id}"
    )
    expect(dialog).to_be_hidden()
    pinned_block = conversation(page, talk.id, other.room_id)
    expect(pinned_block).to_have_class(re.compile(r"\bpinned\b"))
    expect(conversation(page, other.id, talk.room_id)).to_be_visible()
    expect(page.locator("#audit")).to_contain_text("låste")
    assert pinned(web_rt, talk.id) and room_of(web_rt, talk.id) == other.room_id

    # And loosen it again.
    pinned_block.click()
    expect(dialog.locator('[data-show="pinned"].tag')).to_be_visible()
    dialog.get_by_role("button", name="Lås op").click()
    expect(conversation(page, talk.id, other.room_id)).not_to_have_class(re.compile(r"\bpinned\b"))
    assert not pinned(web_rt, talk.id)


def test_block_a_room_and_watch_the_conversation_move(server, web_rt, context):
    open_tuesday(web_rt, "mette")
    talk = book(web_rt, "mette", at(0, 9))
    watcher = context.browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        viewer = watcher.new_page()
        sign_in(viewer, server, "bo")  # a second person watching live
        page = context.new_page()
        sign_in(page, server, "anne")
        expect(conversation(viewer, talk.id, talk.room_id)).to_be_visible()

        page.locator(f'.tl-row[data-room="{talk.room_id}"] [data-block-room]').click()
        form = page.locator("#block-form")
        expect(form.get_by_label("Lokale")).to_have_value(talk.room_id)
        form.get_by_label("Fra").fill("2026-12-01T08:00")
        form.get_by_label("Til").fill("2026-12-01T12:00")
        form.get_by_label("Begrundelse").fill("Maling af vægge")
        form.get_by_role("button", name="Bloker lokale").click()
        # Nothing is blocked before the coordinator has seen what it will move.
        preview = page.locator("#block-preview")
        expect(preview).to_be_visible()
        expect(preview).to_contain_text("1 samtale flyttes, 0 står uden lokale")
        expect(preview.locator('[data-list="moved"]')).to_contain_text(talk.reference)
        assert room_of(web_rt, talk.id) == talk.room_id
        preview.get_by_role("button", name="Bloker", exact=True).click()
        expect(page.locator("#toast")).to_contain_text(
            f"er blokeret 1/12 08:00–1/12 12:00. Flyttet: {talk.reference}"
        )

        for p in (page, viewer):
            expect(p.locator(f'.tl-row[data-room="{talk.room_id}"] .tl-blocked')).to_contain_text(
                "Maling af vægge"
            )
            expect(conversation(p, talk.id, talk.room_id)).to_have_count(0)
        new_room = room_of(web_rt, talk.id)
        assert new_room not in (None, talk.room_id)
        for p in (page, viewer):
            expect(conversation(p, talk.id, new_room)).to_be_visible()
        expect(viewer.locator("#blocks")).to_contain_text("Maling af vægge")
    finally:
        watcher.close()


def test_viewer_sees_everything_but_cannot_change_anything(server, web_rt, context):
    open_tuesday(web_rt)
    talks = [book(web_rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")]
    coordination(web_rt).block_room(
        "L9", at(0, 8), at(0, 10), actor="dashboard:anne", reason="Kursus"
    )
    victim = next(t for t in talks if t.room_id == "L9")
    page = context.new_page()
    sign_in(page, server, "bo")
    expect(page.locator(".badge")).to_have_text("Læseadgang")
    for t in talks:
        if t is not victim:
            expect(conversation(page, t.id, t.room_id)).to_be_visible()
    attention = page.locator("#attention")
    expect(attention).to_contain_text(victim.reference)
    expect(attention).to_contain_text("Uden lokale")
    # No way to change anything is offered.
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.locator("form.js-action")).to_have_count(0)
    expect(page.locator("#block-form")).to_have_count(0)
    conversation(page, talks[0].id).click()
    dialog = page.locator("#conversation-dialog")
    expect(dialog).to_contain_text("Du har læseadgang")
    expect(dialog.locator("button", has_text="Lås")).to_have_count(0)
    page.keyboard.press("Escape")

    # A forged request from the viewer's own page, with her valid CSRF token, is refused.
    result = page.evaluate(
        """async (bookingId) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const body = new FormData();
            body.set("booking_id", bookingId);
            body.set("room_id", "L1");
            body.set("csrf", csrf);
            const r = await fetch("/dashboard/actions/pin", {method: "POST", body,
                headers: {"X-Requested-With": "fetch", "X-CSRF-Token": csrf}});
            return [r.status, (await r.json()).message];
        }""",
        victim.id,
    )
    assert result == [403, "Din rolle giver kun læseadgang"]
    r = page.request.post(
        server + "/dashboard/actions/find-room",
        form={"booking_id": victim.id},
        headers={"X-Requested-With": "fetch"},
    )
    assert r.status == 403
    assert room_of(web_rt, victim.id) is None and not pinned(web_rt, talks[0].id)
