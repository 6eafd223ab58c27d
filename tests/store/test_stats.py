"""The queries behind the dashboard's views, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from syncd.domain.model import CancelledBy, Mode
from syncd.store import stats
from syncd.store.coordination import CONFLICT_BLOCKED
from syncd.store.offers import OfferQuery, find_offers
from syncd.store.tables import AuditRow, OutboxRow, QuarantineRow
from tests.store.helpers import publish
from tests.support.jobcentre import TUESDAY, at
from tests.web.helpers import book, coordination, open_tuesday

HOURS = (8, 17)
COORD = "koordinator:anne"


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_site_day_shows_rooms_with_conversations_blocks_and_foreign_meetings(rt):
    open_tuesday(rt)
    mette = book(rt, "mette", at(0, 9), citizen="citizen-secret-1")
    joint = book(rt, "pia", at(0, 10, 15), type_code="faellessamtale", citizen="citizen-secret-2")
    book(rt, "lars", at(0, 9), mode=Mode.VIDEO, citizen="citizen-secret-3")  # needs no room
    coord = coordination(rt)
    coord.pin(mette.id, actor=COORD)
    coord.block_room("L2", at(0, 13), at(0, 18, 30), actor=COORD, reason="kursus")
    with rt.db.read() as s:
        view = stats.site_day(s, rt.index, "lilleby", TUESDAY, rt.zone, HOURS)
    assert view.site_name == "Jobcenter Lilleby"
    assert [r.room_id for r in view.rooms] == ["L1", "L2", "L9"]
    by_room = {r.room_id: r for r in view.rooms}
    (c,) = by_room[mette.room_id].conversations
    assert (c.reference, c.caseworker_name, c.type_title, c.mode, c.pinned) == (
        mette.reference,
        "Mette Hansen",
        "Jobsamtale",
        "in_person",
        True,
    )
    assert (c.start, c.end, c.room_end) == (at(0, 9), at(0, 9, 30), at(0, 9, 40))
    (j,) = by_room["L9"].conversations
    assert (j.reference, j.type_title, j.pinned) == (
        joint.reference,
        "Fællessamtale med a-kassen",
        False,
    )
    (blk,) = by_room["L2"].blocks
    assert (blk.reason, blk.created_by, blk.start) == ("kursus", COORD, at(0, 13))
    # The timeline widens to the block's end, on whole hours.
    assert view.start == at(0, 8) and view.end == at(0, 19)
    assert len(view.hours) == 11
    assert "citizen-secret" not in repr(view)


def test_needs_attention_lists_roomless_and_conflicts_only(rt):
    open_tuesday(rt)
    talks = [book(rt, cw, at(0, 9), citizen=f"c-{cw}") for cw in ("mette", "lars", "pia")]
    book(rt, "mette", at(0, 10, 20), mode=Mode.PHONE)
    victim = next(t for t in talks if t.room_id == "L9")
    coordination(rt).block_room("L9", at(0, 8), at(0, 10), actor=COORD, reason="rengøring")
    with rt.db.read() as s:
        items = stats.needs_attention(s, rt.index, "lilleby", at(0, 0), at(1, 0))
        later = stats.needs_attention(s, rt.index, "lilleby", at(1, 0), at(2, 0))
    assert [(i.booking_id, i.room_id, i.conflict) for i in items] == [
        (victim.id, None, CONFLICT_BLOCKED)
    ]
    assert later == []


def test_utilisation_per_room_day_and_week(rt):
    open_tuesday(rt)
    publish(rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    for cw in ("mette", "lars", "pia"):
        book(rt, cw, at(0, 9), citizen=f"c-{cw}")
    book(rt, "mette", at(1, 9), citizen="c-wed")
    coordination(rt).block_room("L9", at(0, 9, 30), at(0, 11), actor=COORD, reason="møde")
    monday = TUESDAY - timedelta(days=1)
    with rt.db.read() as s:
        report = stats.utilisation(
            s, rt.index, "lilleby", monday, monday + timedelta(days=6), rt.zone, HOURS
        )
    tuesday = report.days[1]
    assert tuesday.day == TUESDAY and tuesday.open
    # Three conversations of 30 min + 10 min buffer; the one in L9 lost its room to the block.
    assert abs(tuesday.booked_hours - 2 * 40 / 60) < 1e-9
    assert tuesday.peak == 3 and tuesday.peak_at == at(0, 9)
    assert tuesday.rooms_total == 3 and tuesday.rooms_available == 3  # L9 blocked from 09:30
    assert tuesday.without_room == 1
    assert tuesday.capacity_hours == 3 * 9
    wednesday = report.days[2]
    assert (wednesday.peak, round(wednesday.booked_hours * 60)) == (1, 40)
    saturday = report.days[5]
    assert not saturday.open and saturday.capacity_hours == 0 and saturday.share is None
    (week,) = report.weeks
    assert (week.year, week.week) == (2026, 49)
    assert round(week.booked_hours * 60) == 120 and week.peak == 3 and week.without_room == 1
    assert week.capacity_hours == 5 * 27
    uses = {r.room_id: r for r in report.rooms}
    assert round(sum(r.total_hours for r in uses.values()) * 60) == 120
    assert uses["L9"].total_hours == 0 and uses["L9"].capacity_hours == 5 * 9


def test_peak_counts_rooms_blocked_at_that_moment(rt):
    open_tuesday(rt, "mette", "lars")
    book(rt, "mette", at(0, 9))
    book(rt, "lars", at(0, 9))
    coordination(rt).block_room("L9", at(0, 8), at(0, 12), actor=COORD, reason="maling")
    with rt.db.read() as s:
        report = stats.utilisation(s, rt.index, "lilleby", TUESDAY, TUESDAY, rt.zone, HOURS)
    (day,) = report.days
    assert (day.peak, day.rooms_available, day.rooms_total) == (2, 2, 3)


def test_self_booking_figures_per_caseworker_and_team(rt):
    open_tuesday(rt)
    a = book(rt, "mette", at(0, 9), citizen="c1")
    book(rt, "mette", at(0, 9, 40), citizen="c2", staff=True)
    c = book(rt, "lars", at(0, 9), citizen="c3")
    book(rt, "pia", at(0, 9), citizen="c4", mode=Mode.PHONE)
    rt.bookings.cancel(a.id, by=CancelledBy.CITIZEN)
    rt.bookings.cancel(c.id, by=CancelledBy.CASEWORKER)
    with rt.db.read() as s:
        offer = next(
            o
            for o in find_offers(
                s,
                rt.index,
                OfferQuery(
                    start=at(0, 0),
                    end=at(1, 0),
                    caseworker_id="pia",
                    type_code="jobsamtale",
                    modes=(Mode.PHONE,),
                ),
                rt.clock(),
                rt.zone,
            )
        )
    rt.bookings.reserve(offer.offer_id, "c5")  # a hold never confirmed is not counted
    monday = TUESDAY - timedelta(days=1)
    with rt.db.read() as s:
        report = stats.self_booking(s, rt.index, monday, monday + timedelta(days=6), rt.zone)
    assert report.weeks == [(2026, 49)]
    rows = {f.key: f for f in report.caseworkers}
    m = rows["mette"]
    assert (m.booked, m.self_booked, m.cancelled_by_citizen, m.cancelled_by_caseworker) == (
        2,
        1,
        1,
        0,
    )
    assert m.share_self_booked == 0.5 and m.held == 1
    assert (rows["lars"].booked, rows["lars"].cancelled_by_caseworker) == (1, 1)
    teams = {f.key: f for f in report.teams}
    assert (teams["Dagpenge"].booked, teams["Dagpenge"].self_booked) == (3, 2)
    assert teams["Sygedagpenge"].booked == 1 and teams["Sygedagpenge"].share_self_booked == 1.0
    lines = read_csv(stats.self_booking_csv(report))
    assert lines[0][:5] == ["niveau", "navn", "team", "uge", "bookede"]
    assert [
        "sagsbehandler",
        "Mette Hansen",
        "Dagpenge",
        "2026-W49",
        "2",
        "1",
        "1",
        "0",
        "0,50",
    ] in lines


def test_failed_writes_and_quarantine_are_listed_without_cpr(rt, clock):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    with rt.db.write() as s:
        entry = s.scalar(select(OutboxRow).where(OutboxRow.booking_id == b.id))
        entry.attempts = 3
        entry.last_error = "server said: subject 010190-1234 refused"
        s.add(
            QuarantineRow(
                calendar_id="http://dav/mette/",
                href="x.ics",
                uid="x-uid",
                summary="Møde om 311299-9999",
                reason="unparseable DTSTART near 311299-9999",
                first_seen=clock(),
                last_seen=clock(),
            )
        )
    with rt.db.read() as s:
        (failure,) = stats.outbox_failures(s, rt.index)
        (item,) = stats.quarantined(s, rt.index)
    assert (failure.reference, failure.caseworker_name, failure.attempts) == (
        b.reference,
        "Mette Hansen",
        3,
    )
    assert "010190" not in failure.last_error and "[CPR fjernet]" in failure.last_error
    assert "311299" not in item.reason and "311299" not in item.summary
    assert item.uid == "x-uid"


def test_change_marks_move_with_bookings_and_failures(rt):
    open_tuesday(rt, "mette")
    with rt.db.read() as s:
        before = stats.change_marks(s)
    b = book(rt, "mette", at(0, 9))
    with rt.db.read() as s:
        after_booking = stats.change_marks(s)
    assert after_booking["bookings"] != before["bookings"]
    with rt.db.write() as s:
        s.scalar(select(OutboxRow).where(OutboxRow.booking_id == b.id)).last_error = "boom"
    with rt.db.read() as s:
        after_failure = stats.change_marks(s)
    assert after_failure["drift"] != after_booking["drift"]
    assert after_failure["bookings"] == after_booking["bookings"]


def test_recent_audit_names_reference_and_room(rt):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9))
    coordination(rt).pin(b.id, actor=COORD, reason="fast lokale")
    with rt.db.read() as s:
        lines = stats.recent_audit(s, rt.index, limit=5)
        count = len(list(s.scalars(select(AuditRow))))
    assert count >= 3
    assert lines[0].action == "room.pinned" and lines[0].reference == b.reference
    assert lines[0].room_name.startswith("Mødelokale") and lines[0].reason == "fast lokale"
    assert lines[0].actor == COORD


def test_csv_exports(rt):
    open_tuesday(rt, "mette")
    b = book(rt, "mette", at(0, 9), citizen="citizen-secret")
    with rt.db.read() as s:
        allocations = stats.allocations_csv(s, rt.index, "lilleby", TUESDAY, TUESDAY, rt.zone)
        report = stats.utilisation(s, rt.index, "lilleby", TUESDAY, TUESDAY, rt.zone, HOURS)
    assert "citizen-secret" not in allocations
    header, row = read_csv(allocations)
    assert header[:4] == ["dato", "start", "slut", "lokale"]
    assert row[:9] == [
        "2026-12-01",
        "09:00",
        "09:30",
        f"Mødelokale {b.room_id}",
        "Mette Hansen",
        "Dagpenge",
        "Jobsamtale",
        "fremmøde",
        b.reference,
    ]
    lines = read_csv(stats.utilisation_csv(report, rt.index))
    assert lines[1][:5] == ["Jobcenter Lilleby", "", "2026-12-01", "2026-W49", "0,67"]
