"""The coordinator's moves over real HTTP, as the week grid's drag and the dialog send them:
another time in the room dropped on, the reason in the audit, and a stale page refused."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from syncd.store.tables import AuditRow, RoomBlockRow
from tests.store.helpers import publish
from tests.support.jobcentre import CPH, at
from tests.web.conftest import page_csrf, sign_in
from tests.web.helpers import book, coordination, open_tuesday, room_of

FETCH = {"X-Requested-With": "fetch"}
DRAG = "flyttet ved træk på oversigten"


def _seen(rt, booking_id):
    view = rt.bookings.get(booking_id)
    return {"was_start": view.start.isoformat(), "was_room": view.room_id or ""}


def test_drag_to_another_day_keeps_the_room_dropped_on_and_audits_the_reason(server, web_rt):
    publish(web_rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talk = book(web_rt, "mette", at(0, 9))
    with sign_in(server, "anne") as anne:
        for day, room in ((1, "L9"), (0, "L2"), (1, "L1")):
            if room == room_of(web_rt, talk.id):
                continue
            r = anne.post(
                "/dashboard/actions/move-time",
                data={"csrf": page_csrf(anne), "booking_id": talk.id,
                      "start": f"2026-12-0{day + 1}T09:00", "room_id": room, "reason": DRAG}
                | _seen(web_rt, talk.id),
                headers=FETCH,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            assert web_rt.bookings.get(talk.id).start == at(day, 9)
            assert room_of(web_rt, talk.id) == room, r.json()["message"]
    with web_rt.db.read() as s:
        reasons = s.scalars(
            select(AuditRow.reason).where(
                AuditRow.action == "booking.rebooked", AuditRow.booking_id == talk.id
            )
        ).all()
    assert reasons and set(reasons) == {DRAG}


def test_drag_to_another_day_onto_a_room_not_free_then_is_refused(server, web_rt):
    publish(web_rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talk = book(web_rt, "mette", at(0, 9))
    other = next(r for r in ("L1", "L2") if r != talk.room_id)
    coordination(web_rt).block_room(other, at(1, 8), at(1, 12), actor="t", reason="maling")
    with sign_in(server, "anne") as anne:
        r = anne.post(
            "/dashboard/actions/move-time",
            data={"csrf": page_csrf(anne), "booking_id": talk.id, "start": "2026-12-02T09:00",
                  "room_id": other, "reason": DRAG},
            headers=FETCH,
        )  # fmt: skip
    assert r.status_code == 409
    assert "er blokeret på det tidspunkt; samtalen er ikke flyttet" in r.json()["message"]
    assert web_rt.bookings.get(talk.id).start == at(0, 9)
    assert room_of(web_rt, talk.id) == talk.room_id


def test_two_coordinators_moving_the_same_conversation_the_second_is_told(server, web_rt):
    publish(web_rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    talk = book(web_rt, "mette", at(0, 9))
    seen = _seen(web_rt, talk.id)  # both pages show it here
    first, second = (r for r in ("L1", "L2", "L9") if r != talk.room_id)
    with sign_in(server, "anne") as anne:
        r = anne.post(
            "/dashboard/actions/move",
            data={"csrf": page_csrf(anne), "booking_id": talk.id, "room_id": first} | seen,
            headers=FETCH,
        )
        assert r.status_code == 200, r.text
        for path, extra in (
            ("/dashboard/actions/move", {"room_id": second}),
            ("/dashboard/actions/pin", {"room_id": second}),
            ("/dashboard/actions/move-time", {"start": "2026-12-02T09:00", "room_id": second}),
        ):
            r = anne.post(
                path,
                data={"csrf": page_csrf(anne), "booking_id": talk.id} | extra | seen,
                headers=FETCH,
            )
            assert r.status_code == 409, (path, r.text)
            assert "ændret i mellemtiden" in r.json()["message"]
    assert room_of(web_rt, talk.id) == first
    assert web_rt.bookings.get(talk.id).start == at(0, 9)


def _block(anne, path="/dashboard/actions/block", **form):
    return anne.post(path, data={"csrf": page_csrf(anne)} | form, headers=FETCH)


def test_a_block_in_the_hour_summer_time_skips_is_refused_not_stored_empty(server, web_rt):
    with sign_in(server, "anne") as anne:
        r = _block(anne, room_id="L1", start="2027-03-28T02:30", end="2027-03-28T03:30",
                   reason="Vandskade")  # fmt: skip
        assert r.status_code == 422, r.text
        assert "Slutningen skal ligge efter starten" in r.json()["message"]
        # Across the gap it is the hour that really passes: 01:30 CET to 03:30 CEST.
        r = _block(anne, room_id="L1", start="2027-03-28T01:30", end="2027-03-28T03:30",
                   reason="Vandskade")  # fmt: skip
        assert r.status_code == 200, r.text
    with web_rt.db.read() as s:
        (blk,) = s.scalars(select(RoomBlockRow)).all()
    assert blk.end - blk.start == timedelta(hours=1)


def test_every_working_day_skips_public_holidays_and_says_so(server, web_rt):
    form = {"room_id": "L1", "start": "2026-12-21T08:00", "end": "2026-12-21T12:00",
            "reason": "Kursus", "repeat": "workdays", "until": "2027-01-04"}  # fmt: skip
    with sign_in(server, "anne") as anne:
        preview = _block(anne, "/dashboard/actions/block-preview", **form).json()
        assert preview["skipped"] == ["2026-12-25", "2027-01-01"]
        assert "Springer over lukkedage: fre 25/12, fre 1/1" in preview["message"]
        assert preview["periods"] == 9
        r = _block(anne, **form)
        assert r.status_code == 200, r.text
        assert "Springer over lukkedage: fre 25/12, fre 1/1" in r.json()["message"]
    with web_rt.db.read() as s:
        days = {b.start.astimezone(CPH).date() for b in s.scalars(select(RoomBlockRow))}
    assert len(days) == 9 and date(2026, 12, 25) not in days and date(2027, 1, 1) not in days


def test_the_same_block_twice_is_refused_and_a_second_release_says_so(server, web_rt):
    form = {"room_id": "L1", "start": "2026-12-01T08:00", "end": "2026-12-01T12:00",
            "reason": "Vandskade"}  # fmt: skip
    with sign_in(server, "anne") as anne:
        assert _block(anne, **form).status_code == 200
        r = _block(anne, **form)
        assert r.status_code == 409
        assert "allerede blokeret i præcis den periode" in r.json()["message"]
        assert _block(anne, **(form | {"reason": "Maling"})).status_code == 200  # another reason
        with web_rt.db.read() as s:
            block_id = s.scalars(select(RoomBlockRow.id)).first()
        first = _block(anne, "/dashboard/actions/release-block", block_id=block_id)
        assert first.status_code == 200 and "ikke længere blokeret" in first.json()["message"]
        again = _block(anne, "/dashboard/actions/release-block", block_id=block_id)
        assert again.status_code == 200
        assert again.json()["message"] == (
            "Blokeringen af Mødelokale L1 1/12 08:00–1/12 12:00 var allerede frigivet."
        )
    with web_rt.db.read() as s:
        released = s.scalars(select(AuditRow).where(AuditRow.action == "room.unblocked")).all()
    assert len(released) == 1


def test_one_conversation_is_one_samtale_in_the_plan(server, web_rt):
    open_tuesday(web_rt, "mette")
    book(web_rt, "mette", at(0, 9))
    with sign_in(server, "anne") as anne:
        for view in ("week", "month"):
            page = anne.get(f"/dashboard/plan?view={view}&day=2026-12-01").text
            assert "1 samtaler" not in page
            assert "<h2>1 samtale</h2>" in page
        month = anne.get("/dashboard/plan?view=month&day=2026-12-01").text
        assert 'aria-label="tirsdag 1. december 2026: 1 samtale"' in month
        assert '<span class="n">1 samtale</span>' in month
        r = anne.post(
            "/dashboard/actions/move-time",
            data={"csrf": page_csrf(anne), "booking_id": "x", "start": "i morgen"},
            headers=FETCH,
        )
        assert r.json()["message"] == "Ugyldigt tidspunkt for flytningen"


def test_self_booking_opens_on_the_nearest_week_with_bookings(server, web_rt):
    open_tuesday(web_rt, "mette")
    book(web_rt, "mette", at(0, 9))  # week 49; the clock is in week 48
    with sign_in(server, "anne") as anne:
        page = anne.get("/dashboard/self-booking").text
        assert "<h1>Selvbooking, uge 49 2026</h1>" in page
        assert "Ingen bookede samtaler i denne uge (uge 48); viser uge 49" in page
        asked = anne.get("/dashboard/self-booking?week=2026-W48").text
        assert "<h1>Selvbooking, uge 48 2026</h1>" in asked and "nearest-week" not in asked
