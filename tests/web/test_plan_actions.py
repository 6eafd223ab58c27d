"""The coordinator's moves over real HTTP, as the week grid's drag and the dialog send them:
another time in the room dropped on, the reason in the audit, and a stale page refused."""

from __future__ import annotations

from sqlalchemy import select

from syncd.store.tables import AuditRow
from tests.store.helpers import publish
from tests.support.jobcentre import at
from tests.web.conftest import page_csrf, sign_in
from tests.web.helpers import book, coordination, room_of

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
